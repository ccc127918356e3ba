import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.contrib.postgres.operations import AddIndexConcurrently
from django.contrib.postgres.operations import AddConstraintNotValid, ValidateConstraint
from django.db import migrations
from django.db import models


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY can't run inside a transaction block, and Django runs each
    # migration in one unless it says otherwise. Without one, each statement below also commits on
    # its own, which VALIDATE needs; a failure half-way leaves the ones before it applied, each of
    # which can be found and finished by hand (chapter 15).
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # CREATE INDEX CONCURRENTLY: takes SHARE UPDATE EXCLUSIVE, which doesn't conflict with the
        # ROW EXCLUSIVE lock of INSERT/UPDATE/DELETE, so writes go on while the index is built.
        AddIndexConcurrently(
            model_name="sighting",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.search.SearchVector("description", config="english"),
                name="sighting_search_idx",
            ),
        ),
        # A plain ADD CONSTRAINT ... CHECK reads every row to prove it while it holds ACCESS
        # EXCLUSIVE. NOT VALID: a moment of that lock, no reading; from now on every write is checked.
        AddConstraintNotValid(
            model_name="sighting",
            constraint=models.CheckConstraint(
                condition=models.Q(("score__gte", 0), ("score__lte", 100)), name="sighting_score_0_100"
            ),
        ),
        # VALIDATE reads the old rows under SHARE UPDATE EXCLUSIVE (reads and writes go on), in its
        # own transaction: in the ADD's transaction, the ADD's ACCESS EXCLUSIVE would still be held.
        ValidateConstraint(model_name="sighting", name="sighting_score_0_100"),
    ]

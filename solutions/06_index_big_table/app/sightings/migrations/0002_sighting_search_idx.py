import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY can't run inside a transaction block, and Django runs each
    # migration in one unless it says otherwise. Keep this migration to this one operation:
    # without a transaction, a failure half-way leaves the rest of it applied.
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
    ]

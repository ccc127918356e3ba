from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY can't run inside a transaction block (chapter 06): this migration
    # has none, so each of its statements commits on its own.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="sighting",
            index=models.Index(fields=["location", "sighted_at"], name="sighting_location_idx"),
        ),
    ]

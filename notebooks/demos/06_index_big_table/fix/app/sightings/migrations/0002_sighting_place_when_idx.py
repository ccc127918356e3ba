from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY can't run inside a transaction block.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="sighting",
            index=models.Index(fields=["location", "sighted_at"], name="sighting_place_when_idx"),
        ),
    ]

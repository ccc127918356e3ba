from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Written by a colleague who did chapter 06: CREATE INDEX CONCURRENTLY can't run inside a
    # transaction block, so this migration has none. Each statement below commits on its own.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # A nullable column: no table rewrite, a few milliseconds of ACCESS EXCLUSIVE lock.
        migrations.AddField(
            model_name="sighting",
            name="reviewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        # Built without blocking reads or writes (SHARE UPDATE EXCLUSIVE), however big the table.
        AddIndexConcurrently(
            model_name="sighting",
            index=models.Index(fields=["reviewed_at"], name="sighting_reviewed_idx"),
        ),
    ]

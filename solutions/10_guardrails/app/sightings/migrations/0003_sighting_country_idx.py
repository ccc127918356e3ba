from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    # The index gets a migration of its own: CREATE INDEX CONCURRENTLY can't run in a
    # transaction (exercise 06), and it mustn't keep 0002's ACCESS EXCLUSIVE lock held while
    # it builds.
    atomic = False

    dependencies = [
        ("sightings", "0002_sighting_country"),
    ]

    operations = [
        migrations.RunSQL("SET lock_timeout = '1s'", reverse_sql=migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name="sighting",
            index=models.Index(fields=["country"], name="sighting_country_idx"),
        ),
    ]

from django.db import migrations


class Migration(migrations.Migration):
    """Release v3 drops the column. Only v2 and v3 serve by now, and neither names `score`.

    Django's state forgot the field in 0002, so this is plain SQL (no state change). The reverse
    brings the column back (empty: the scores themselves are gone for good).
    """

    dependencies = [
        ("sightings", "0002_remove_sighting_score"),
    ]

    operations = [
        migrations.RunSQL(
            sql="ALTER TABLE sightings_sighting DROP COLUMN score",
            reverse_sql="ALTER TABLE sightings_sighting ADD COLUMN score integer NOT NULL DEFAULT 0",
        ),
    ]

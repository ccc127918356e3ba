from django.db import migrations


class Migration(migrations.Migration):
    """Release v3 drops the column: only v2 and v3 serve by now, and neither names `author`.

    Django's state already forgot the field (0002), so this is plain SQL with no state change.
    """

    dependencies = [
        ("sightings", "0002_remove_comment_author"),
    ]

    operations = [
        migrations.RunSQL(
            sql="ALTER TABLE sightings_comment DROP COLUMN author",
            reverse_sql="ALTER TABLE sightings_comment ADD COLUMN author varchar(100) NOT NULL DEFAULT ''",
        ),
    ]

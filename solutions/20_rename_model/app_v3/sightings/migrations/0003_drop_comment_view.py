# Release v3, deployed once no server runs v1: nothing reads sightings_comment any more (the
# contract step of expand/contract).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0002_rename_comment_note'),
    ]

    operations = [
        migrations.RunSQL(
            "DROP VIEW sightings_comment",
            # the way back to v2's state: v2 runs beside v1, which needs the old name again
            reverse_sql="CREATE VIEW sightings_comment AS SELECT * FROM sightings_note",
        ),
    ]

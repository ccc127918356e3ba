from django.db import migrations


class Migration(migrations.Migration):
    """Proves the rows that were there before the constraint: reads sightings_sighting under SHARE
    UPDATE EXCLUSIVE (reads and writes go on) and takes only ROW SHARE on sightings_comment. In a
    transaction of its own: in the ADD's transaction, the ADD's lock would still be held. In
    production it can wait for a later deploy: new rows are checked from the ADD on."""

    dependencies = [
        ("sightings", "0003_sighting_pinned_comment_fk"),
    ]

    operations = [
        migrations.RunSQL(
            'ALTER TABLE "sightings_sighting" VALIDATE CONSTRAINT '
            '"sightings_sighting_pinned_comment_id_267e83b2_fk_sightings"',
            # nothing to undo: the constraint itself goes with 0003's reverse
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]

from django.db import migrations, models

CHECK = "sightings_comment_word_count_not_null"


class Migration(migrations.Migration):
    """Contract: NOT NULL without a full-table scan under ACCESS EXCLUSIVE.

    1. CHECK (word_count IS NOT NULL) NOT VALID: new writes are checked; a brief lock, no scan.
    2. VALIDATE CONSTRAINT: scans the old rows under SHARE UPDATE EXCLUSIVE (reads and writes go on).
       It must commit apart from step 1, so the migration is not atomic: each statement commits alone.
    3. SET NOT NULL: PostgreSQL sees the valid CHECK and skips its own scan.
    4. DROP the CHECK, now redundant.
    """

    atomic = False

    dependencies = [
        ("sightings", "0002_comment_word_count"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"ALTER TABLE sightings_comment DROP CONSTRAINT IF EXISTS {CHECK}; "
                f"ALTER TABLE sightings_comment ADD CONSTRAINT {CHECK} CHECK (word_count IS NOT NULL) NOT VALID",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            sql=f"ALTER TABLE sightings_comment VALIDATE CONSTRAINT {CHECK}",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="comment",
            name="word_count",
            field=models.IntegerField(editable=False),
        ),
        migrations.RunSQL(
            sql=f"ALTER TABLE sightings_comment DROP CONSTRAINT IF EXISTS {CHECK}",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]

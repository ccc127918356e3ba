"""Contract: the bigint column takes the int one's place, in one short transaction.

Dropping a column and renaming one are catalogue changes: ACCESS EXCLUSIVE for a moment, no row
read or written. Both releases name the column `score`, so both go on working: v1 writes its ints
into a bigint. Django's state learns the new type here (SeparateDatabaseAndState).
"""
from django.db import migrations, models

FORWARD = [
    "SET LOCAL lock_timeout = '2s'",
    "DROP TRIGGER sightings_score_big ON sightings_sighting",
    "DROP FUNCTION sightings_score_big()",
    "ALTER TABLE sightings_sighting DROP COLUMN score",
    "ALTER TABLE sightings_sighting RENAME COLUMN score_big TO score",
    "ALTER TABLE sightings_sighting ALTER COLUMN score DROP DEFAULT",
]
# Back to the expanded schema: both columns and the trigger (a score above 2^31-1 can't go back).
BACKWARD = [
    "SET LOCAL lock_timeout = '2s'",
    "ALTER TABLE sightings_sighting RENAME COLUMN score TO score_big",
    "ALTER TABLE sightings_sighting ALTER COLUMN score_big SET DEFAULT 0",
    "ALTER TABLE sightings_sighting ADD COLUMN score integer",
    "UPDATE sightings_sighting SET score = score_big",
    "ALTER TABLE sightings_sighting ALTER COLUMN score SET NOT NULL",
    """CREATE FUNCTION sightings_score_big() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.score_big := NEW.score;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER sightings_score_big BEFORE INSERT OR UPDATE ON sightings_sighting "
    "FOR EACH ROW EXECUTE FUNCTION sightings_score_big()",
]


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0003_sighting_score_big_backfill'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, reverse_sql=BACKWARD)],
            state_operations=[
                migrations.AlterField(
                    model_name='sighting',
                    name='score',
                    field=models.BigIntegerField(default=0),
                ),
            ],
        ),
    ]

"""Contract: the short column takes the old one's place, in one short transaction.

It runs once every server runs v3 (plan: `migrate = "after"`): v1's form takes names of up to 100
characters, and after the swap `reporter` is varchar(60), so a v1 still serving would fail to save
them. Dropping a column and renaming one are catalogue changes: ACCESS EXCLUSIVE for a moment, no
row read or written. Django's state learns the new max_length here (SeparateDatabaseAndState): the
column it calls `reporter` is now the varchar(60) one.
"""
from django.db import migrations, models

FORWARD = [
    "SET LOCAL lock_timeout = '2s'",
    "DROP TRIGGER sightings_reporter_short ON sightings_sighting",
    "DROP FUNCTION sightings_reporter_short()",
    "ALTER TABLE sightings_sighting DROP COLUMN reporter",
    "ALTER TABLE sightings_sighting RENAME COLUMN reporter_short TO reporter",
    "ALTER TABLE sightings_sighting ALTER COLUMN reporter DROP DEFAULT",
]
# Back to v2's schema: both columns and the trigger. The long names cut on the way here stay cut.
BACKWARD = [
    "SET LOCAL lock_timeout = '2s'",
    "ALTER TABLE sightings_sighting RENAME COLUMN reporter TO reporter_short",
    "ALTER TABLE sightings_sighting ALTER COLUMN reporter_short SET DEFAULT ''",
    "ALTER TABLE sightings_sighting ADD COLUMN reporter varchar(100)",
    "UPDATE sightings_sighting SET reporter = reporter_short",
    "ALTER TABLE sightings_sighting ALTER COLUMN reporter SET NOT NULL",
    """CREATE FUNCTION sightings_reporter_short() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF char_length(NEW.reporter) > 60 THEN
            NEW.reporter_short := left(NEW.reporter, 59) || '…';
        ELSE
            NEW.reporter_short := NEW.reporter;
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER sightings_reporter_short BEFORE INSERT OR UPDATE ON sightings_sighting "
    "FOR EACH ROW EXECUTE FUNCTION sightings_reporter_short()",
]


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0003_sighting_reporter_backfill'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, reverse_sql=BACKWARD)],
            state_operations=[
                migrations.AlterField(
                    model_name='sighting',
                    name='reporter',
                    field=models.CharField(max_length=60),
                ),
            ],
        ),
    ]

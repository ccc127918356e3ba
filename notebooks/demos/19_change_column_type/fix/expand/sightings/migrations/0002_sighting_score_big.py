"""Expand: a bigint column next to the int one, kept equal to it by a trigger.

Added with a constant default, so PostgreSQL writes it in its catalogue only: no rewrite, ACCESS
EXCLUSIVE for a moment. From here on every INSERT and UPDATE, by whichever release, copies `score`
into `score_big`. Django's state doesn't change: until the swap the new column is the database's.
"""
from django.db import migrations

FORWARD = [
    "SET LOCAL lock_timeout = '2s'",
    "ALTER TABLE sightings_sighting ADD COLUMN score_big bigint NOT NULL DEFAULT 0",
    """CREATE FUNCTION sightings_score_big() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.score_big := NEW.score;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER sightings_score_big BEFORE INSERT OR UPDATE ON sightings_sighting "
    "FOR EACH ROW EXECUTE FUNCTION sightings_score_big()",
]
BACKWARD = [
    "SET LOCAL lock_timeout = '2s'",
    "DROP TRIGGER sightings_score_big ON sightings_sighting",
    "DROP FUNCTION sightings_score_big()",
    "ALTER TABLE sightings_sighting DROP COLUMN score_big",
]


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0001_initial'),
    ]

    operations = [
        migrations.RunSQL(FORWARD, reverse_sql=BACKWARD),
    ]

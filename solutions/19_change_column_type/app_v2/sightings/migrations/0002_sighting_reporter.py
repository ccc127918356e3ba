"""Expand: the new column next to the old one, kept in sync by a trigger.

`reporter_short` is added with a constant default, so PostgreSQL writes it in its catalogue only (no
rewrite, ACCESS EXCLUSIVE for a moment). From here on, every INSERT or UPDATE of a sighting (by the
release that runs now, which knows nothing of the new column) fills it: the name as it is, or, when
longer than 60 characters, its first 59 and an ellipsis. Django's state doesn't change: the column is
the database's business until the swap (0004) gives it the model's name.
"""
from django.db import migrations

FORWARD = [
    "SET LOCAL lock_timeout = '2s'",
    "ALTER TABLE sightings_sighting ADD COLUMN reporter_short varchar(60) NOT NULL DEFAULT ''",
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
BACKWARD = [
    "SET LOCAL lock_timeout = '2s'",
    "DROP TRIGGER sightings_reporter_short ON sightings_sighting",
    "DROP FUNCTION sightings_reporter_short()",
    "ALTER TABLE sightings_sighting DROP COLUMN reporter_short",
]


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0001_initial'),
    ]

    operations = [
        migrations.RunSQL(FORWARD, reverse_sql=BACKWARD),
    ]

from django.db import migrations, models

# PostgreSQL builds a UNIQUE constraint's index while it holds ACCESS EXCLUSIVE (no read, no write),
# and a UNIQUE constraint can't be added NOT VALID: the only way to prove it is to build its index.
# So the index is built first, CONCURRENTLY, and then made the constraint's (a moment of lock).
# Django names the constraint's index after the constraint, and so does ADD CONSTRAINT ... USING INDEX.
NAME = "sighting_reported_once"

# Production's double posts, merged: of each group with the same reporter, title and moment, the
# first report (lowest id) stays; the copies' comments move to it, then the copies go. Only rows
# that are really equal, as the constraint compares them (no lower(), no trim()).
MERGE_DOUBLE_POSTS = """
WITH copies AS (
    SELECT id, keep FROM (
        SELECT id, min(id) OVER (PARTITION BY reporter, title, sighted_at) AS keep FROM sightings_sighting
    ) g WHERE id <> keep
), moved AS (
    UPDATE sightings_comment c SET sighting_id = copies.keep FROM copies WHERE c.sighting_id = copies.id
)
DELETE FROM sightings_sighting s USING copies WHERE s.id = copies.id
"""


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY can't run in a transaction block. Without one, each statement below
    # commits on its own: the merge holds row locks only, and no statement waits for another's lock.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # One statement (its own transaction): the copies' comments move, the copies go. Nothing to
        # undo on the way back: the merged rows stay merged, and a second run finds nothing to do.
        migrations.RunSQL(MERGE_DOUBLE_POSTS, reverse_sql=migrations.RunSQL.noop),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                # SHARE UPDATE EXCLUSIVE: reads and writes go on while the index is built.
                migrations.RunSQL(
                    f'CREATE UNIQUE INDEX CONCURRENTLY "{NAME}" ON "sightings_sighting" ("reporter", "title", "sighted_at")',
                    reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{NAME}"',
                ),
                migrations.RunSQL("SET lock_timeout = '5s'", migrations.RunSQL.noop),  # then a moment of ACCESS EXCLUSIVE
                migrations.RunSQL(
                    f'ALTER TABLE "sightings_sighting" ADD CONSTRAINT "{NAME}" UNIQUE USING INDEX "{NAME}"',
                    reverse_sql=f'ALTER TABLE "sightings_sighting" DROP CONSTRAINT "{NAME}"',
                ),
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="sighting",
                    constraint=models.UniqueConstraint(
                        fields=("reporter", "title", "sighted_at"), name="sighting_reported_once"
                    ),
                ),
            ],
        ),
    ]

from django.db import migrations

# The names Django gives this field's index and constraint (`sqlmigrate` of the plain AddField prints
# them): the next AlterField or RemoveField of the field looks them up, so they must be Django's.
INDEX = "sightings_sighting_pinned_comment_id_267e83b2"
FK = "sightings_sighting_pinned_comment_id_267e83b2_fk_sightings"


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY can't run in a transaction block; without one, each statement below
    # also commits on its own, so the constraint's brief lock is gone before anything else runs.
    atomic = False

    dependencies = [
        ("sightings", "0002_sighting_pinned_comment"),
    ]

    operations = [
        # SHARE UPDATE EXCLUSIVE: reads and writes go on while the index is built.
        migrations.RunSQL(
            f'CREATE INDEX CONCURRENTLY "{INDEX}" ON "sightings_sighting" ("pinned_comment_id")',
            reverse_sql=f'DROP INDEX CONCURRENTLY "{INDEX}"',
        ),
        # NOT VALID: a moment of SHARE ROW EXCLUSIVE on both tables, no row read; every write from now
        # on is checked. DEFERRABLE INITIALLY DEFERRED, as Django creates its foreign keys.
        migrations.RunSQL(
            f'ALTER TABLE "sightings_sighting" ADD CONSTRAINT "{FK}" FOREIGN KEY ("pinned_comment_id") '
            f'REFERENCES "sightings_comment" ("id") DEFERRABLE INITIALLY DEFERRED NOT VALID',
            reverse_sql=f'ALTER TABLE "sightings_sighting" DROP CONSTRAINT "{FK}"',
        ),
    ]

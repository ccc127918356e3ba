from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

INDEX = "sighting_reporter_idx"


def drop_invalid_leftover(apps, schema_editor):
    """What an attempt that died half-way leaves behind: the index, marked invalid in pg_index.
    Drop it (CONCURRENTLY: writes go on) so that the build below starts from scratch."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "WHERE c.relname = %s AND NOT i.indisvalid", [INDEX])
        if cursor.fetchone():
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{INDEX}"')


class Migration(migrations.Migration):

    # No transaction: CONCURRENTLY needs it so, and it means this migration can stop half-way.
    # django_migrations records it only once every operation is done, so a retry starts from
    # the top again: every operation must cope with what an earlier attempt left behind.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL("SET lock_timeout = '1s'", reverse_sql=migrations.RunSQL.noop),
        # Kraken's SaferAddIndexConcurrently (django-pg-migration-tools) does the same check.
        migrations.RunPython(drop_invalid_leftover, migrations.RunPython.noop),
        AddIndexConcurrently(
            model_name="sighting",
            index=models.Index(fields=["reporter"], name=INDEX),
        ),
    ]

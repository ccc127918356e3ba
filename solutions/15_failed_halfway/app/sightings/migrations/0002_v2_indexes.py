from django.db import migrations, models

INDEXES = ["sighting_sighted_at_idx", "comment_author_idx"]


def drop_invalid_leftovers(apps, schema_editor):
    """What an attempt that died half-way left behind: an index marked invalid in pg_index (its
    build was cut off). Drop it (CONCURRENTLY: writes go on) so that its build starts again. A
    valid index is an earlier attempt's finished work: it stays."""
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute("SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                           "WHERE c.relname = %s AND NOT i.indisvalid", [name])
            if cursor.fetchone():
                cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):

    # CREATE (and DROP) INDEX CONCURRENTLY can't run inside a transaction block (chapter 06).
    # Without a transaction this migration can stop anywhere: in the first build, or after it,
    # in the second. django_migrations records it only once every operation is done, so each
    # retry starts from the top and finds what the attempts before it left: redo what is
    # half-built, keep what is finished.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # Never wait long for a lock (chapter 07): give up after 1 s, and the plan tries again.
        # A plain SET: this migration has no transaction, so SET LOCAL would do nothing.
        migrations.RunSQL("SET lock_timeout = '1s'", reverse_sql=migrations.RunSQL.noop),
        # Half-built leftovers go first (like Kraken's SaferAddIndexConcurrently) ...
        migrations.RunPython(drop_invalid_leftovers, migrations.RunPython.noop),
        # ... then each build skips an index that is there: after the drop above, only a valid one
        # is. The SQL is AddIndexConcurrently's (`manage.py sqlmigrate sightings 0002` on the
        # starter) with IF NOT EXISTS; Django's state gets the model's index as before.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "sighting_sighted_at_idx" '
                    'ON "sightings_sighting" ("sighted_at")',
                    reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS "sighting_sighted_at_idx"',
                ),
            ],
            state_operations=[
                migrations.AddIndex(
                    model_name="sighting",
                    index=models.Index(fields=["sighted_at"], name="sighting_sighted_at_idx"),
                ),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "comment_author_idx" '
                    'ON "sightings_comment" ("author", "created_at")',
                    reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS "comment_author_idx"',
                ),
            ],
            state_operations=[
                migrations.AddIndex(
                    model_name="comment",
                    index=models.Index(fields=["author", "created_at"], name="comment_author_idx"),
                ),
            ],
        ),
    ]

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    # CREATE (and DROP) INDEX CONCURRENTLY can't run inside a transaction block (chapter 06).
    # Without a transaction this migration can stop half-way: it must be safe to run again.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # Never wait long for a lock (chapter 07): give up after 1 s, and the plan tries again.
        # A plain SET: this migration has no transaction, so SET LOCAL would do nothing.
        migrations.RunSQL("SET lock_timeout = '1s'", reverse_sql=migrations.RunSQL.noop),
        # An attempt that gave up half-way left the index behind INVALID (the build commits the
        # catalogue entry before it waits for open transactions), and django_migrations doesn't
        # record the migration, so the retry starts here again: take the leftover away first.
        # CONCURRENTLY: a plain DROP INDEX takes ACCESS EXCLUSIVE on the table. On a first run
        # there is nothing to drop. (Kraken's SaferAddIndexConcurrently drops it only when
        # pg_index says it is invalid; here, any index of that name is this migration's own.)
        migrations.RunSQL(
            'DROP INDEX CONCURRENTLY IF EXISTS "comment_author_idx"',
            reverse_sql=migrations.RunSQL.noop,
        ),
        AddIndexConcurrently(
            model_name="comment",
            index=models.Index(fields=["author", "created_at"], name="comment_author_idx"),
        ),
    ]

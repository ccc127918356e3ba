from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):

    # CREATE INDEX CONCURRENTLY can't run inside a transaction block (chapter 06).
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # Never wait long for a lock (chapter 07): give up after 1 s, and the plan tries again.
        # A plain SET: this migration has no transaction, so SET LOCAL would do nothing.
        migrations.RunSQL("SET lock_timeout = '1s'", reverse_sql=migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name="sighting",
            index=models.Index(fields=["sighted_at"], name="sighting_sighted_at_idx"),
        ),
        AddIndexConcurrently(
            model_name="comment",
            index=models.Index(fields=["author", "created_at"], name="comment_author_idx"),
        ),
    ]

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Chapter 06: the index in a migration of its own, built CONCURRENTLY, which can't run in a
    # transaction: atomic = False. Without a transaction SET LOCAL would do nothing; a plain SET
    # lasts for this migrate run's session.
    atomic = False

    dependencies = [
        ("sightings", "0002_comment_language"),
    ]

    operations = [
        migrations.RunSQL("SET lock_timeout = '2s'", reverse_sql=migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name="comment",
            index=models.Index(fields=["language"], name="comment_language_idx"),
        ),
    ]

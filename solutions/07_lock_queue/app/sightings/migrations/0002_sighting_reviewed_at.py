from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY can't run inside a transaction block (chapter 06): no transaction,
    # each statement below commits on its own. So a setting for "this transaction only" (SET LOCAL)
    # does nothing here, and a session setting (SET) stays until something changes it.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # The ALTER needs ACCESS EXCLUSIVE: while it waits behind the analysts' report, every query
        # on the table queues behind it. Give up after 500 ms instead (it changed nothing); the
        # plan's retries run the migration again a moment later.
        migrations.RunSQL("SET lock_timeout = '500ms'", reverse_sql=migrations.RunSQL.noop),
        migrations.AddField(
            model_name="sighting",
            name="reviewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        # The guardrail ends here. The concurrent build waits too -- for every transaction older
        # than it, the comments export included -- but nobody queues behind it: its lock lets reads
        # and writes through. Cut short, it would leave an INVALID index behind, and the retry would
        # fail on the column that is already there.
        migrations.RunSQL("RESET lock_timeout", reverse_sql=migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name="sighting",
            index=models.Index(fields=["reviewed_at"], name="sighting_reviewed_idx"),
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # Give up on a lock we can't get within 500 ms, instead of waiting in the lock queue,
        # where every later query on the table (plain SELECTs too) would queue behind us. The
        # migration then fails with "canceling statement due to lock timeout", rolls back
        # (nothing was changed) and the plan's `retries` run it again a moment later.
        # Django runs the migration in one transaction, so the setting holds for the ALTER below.
        # (`statement_timeout` would also cap how long the statement may *run* once it has the lock.)
        migrations.RunSQL("SET lock_timeout = '500ms'", reverse_sql=migrations.RunSQL.noop),
        # A nullable column: no table rewrite, a few milliseconds of ACCESS EXCLUSIVE lock.
        migrations.AddField(
            model_name="sighting",
            name="reviewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

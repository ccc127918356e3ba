from django.db import migrations, models


class Migration(migrations.Migration):
    # Atomic (Django's default): the operations below run in ONE transaction, so SET LOCAL
    # reaches the ALTER TABLE and ends with the transaction -- later migrations don't inherit it.

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # Wait at most 400 ms for the table's lock, then fail (and roll back) instead of sitting
        # in the lock queue with the site's queries queued behind us. The plan step retries.
        migrations.RunSQL("SET LOCAL lock_timeout = '400ms'", reverse_sql=migrations.RunSQL.noop),
        migrations.AddField(
            model_name="comment",
            name="edited_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

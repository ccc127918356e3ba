from django.db import migrations, models


class Migration(migrations.Migration):
    # Atomic (Django's default): SET LOCAL reaches the ALTER TABLE below and ends with this
    # migration's transaction.

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # Chapter 07: don't wait in the lock queue (with the site queued behind us); give up and retry.
        migrations.RunSQL("SET LOCAL lock_timeout = '2s'", reverse_sql=migrations.RunSQL.noop),
        # Chapter 02: a database default, kept in the table, so v1's INSERTs (which don't name
        # the column) get "en" instead of violating NOT NULL.
        migrations.AddField(
            model_name="comment",
            name="language",
            field=models.CharField(db_default="en", max_length=8),
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # Don't queue behind a long transaction (and make every query queue behind us): give up
        # after 1 s without the lock; the deploy can run the migration again (exercise 07).
        migrations.RunSQL("SET lock_timeout = '1s'", reverse_sql=migrations.RunSQL.noop),
        # db_default: the DEFAULT stays in the database, so the old release's INSERTs (which
        # don't name the column) still work (exercise 02). No DROP DEFAULT in the SQL.
        migrations.AddField(
            model_name="sighting",
            name="country",
            field=models.CharField(db_default="USA", max_length=60),
        ),
    ]

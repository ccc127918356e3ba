from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # Don't queue behind a long transaction (and make every query queue behind us): give up
        # after 1 s without the lock; the deploy can run the migration again (exercise 07).
        migrations.RunSQL("SET lock_timeout = '1s'", reverse_sql=migrations.RunSQL.noop),
        # The rename happens in Python only: the field keeps its column (exercise 04). First the
        # field says which column it uses (its column already is "score": no SQL), then it gets
        # its new name (the column stays "score": no SQL either). The old release, which still
        # selects and inserts "score", never notices.
        migrations.AlterField(
            model_name="sighting",
            name="score",
            field=models.IntegerField(db_column="score", default=0),
        ),
        migrations.RenameField(
            model_name="sighting",
            old_name="score",
            new_name="credibility",
        ),
        # db_default: the DEFAULT stays in the database, so the old release's INSERTs (which
        # don't name the column) still work (exercise 02). No DROP DEFAULT in the SQL.
        migrations.AddField(
            model_name="sighting",
            name="country",
            field=models.CharField(db_default="USA", max_length=60),
        ),
    ]

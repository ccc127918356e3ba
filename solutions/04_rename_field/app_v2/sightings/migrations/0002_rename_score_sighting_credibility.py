from django.db import migrations, models


class Migration(migrations.Migration):
    """Rename `score` to `credibility` in Django's state only.

    The field first gets db_column="score" (its current column), then the new name: the column
    keeps its name, so both operations are no-ops in the database (`manage.py sqlmigrate
    sightings 0002` prints "-- (no-op)" twice), and release v1, still serving, never notices.
    """

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
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
    ]

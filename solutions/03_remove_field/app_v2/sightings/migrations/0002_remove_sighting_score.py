from django.db import migrations, models


class Migration(migrations.Migration):
    """Release v2 stops using `score`; the column stays until release v3.

    While v1 still serves, it SELECTs and INSERTs `score`: the column must stay. v2's INSERTs no
    longer name it, so the database must fill it itself: a database default (db_default).
    """

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # In the database: keep the column, but let PostgreSQL fill it (DEFAULT 0).
            database_operations=[
                migrations.AlterField(
                    model_name="sighting",
                    name="score",
                    field=models.IntegerField(default=0, db_default=0),
                ),
            ],
            # In Django's state: the field is gone, as it is from v2's model.
            state_operations=[
                migrations.RemoveField(
                    model_name="sighting",
                    name="score",
                ),
            ],
        ),
    ]

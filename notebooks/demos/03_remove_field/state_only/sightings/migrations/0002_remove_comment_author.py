from django.db import migrations, models


class Migration(migrations.Migration):
    """Release v2 stops using Comment.author; the column stays until release v3.

    Two lists, one per side of the migration:
    - state_operations: what Django's state (its picture of the models) learns: the field is gone.
    - database_operations: what PostgreSQL is told: keep the column (v1 still reads and writes it),
      but fill it by itself (DEFAULT ''), because v2's INSERTs no longer name it.
    """

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterField(
                    model_name="comment",
                    name="author",
                    field=models.CharField(max_length=100, db_default=""),
                ),
            ],
            state_operations=[
                migrations.RemoveField(
                    model_name="comment",
                    name="author",
                ),
            ],
        ),
    ]

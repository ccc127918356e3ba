from django.db import migrations, models


class Migration(migrations.Migration):
    """Rename Comment.created_at to posted_at in Django's state only.

    First the field is pinned to the column it already has (db_column="created_at"), then it gets
    its new name; the column keeps its name, so neither operation changes the database.
    """

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="comment",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, db_column="created_at"),
        ),
        migrations.RenameField(
            model_name="comment",
            old_name="created_at",
            new_name="posted_at",
        ),
    ]

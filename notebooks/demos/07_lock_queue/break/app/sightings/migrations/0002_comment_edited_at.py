from django.db import migrations, models


class Migration(migrations.Migration):
    # What makemigrations writes. A nullable column: no table rewrite, and the ALTER TABLE holds
    # its ACCESS EXCLUSIVE lock for a few milliseconds -- once it has it.

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="comment",
            name="edited_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    # What makemigrations writes for the model change: one migration, a field and its index.

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="comment",
            name="language",
            field=models.CharField(default="en", max_length=8),
        ),
        migrations.AddIndex(
            model_name="comment",
            index=models.Index(fields=["language"], name="comment_language_idx"),
        ),
    ]

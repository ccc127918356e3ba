from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(
            model_name="sighting",
            old_name="score",
            new_name="credibility",
        ),
        migrations.AddField(
            model_name="sighting",
            name="country",
            field=models.CharField(default="USA", max_length=60),
        ),
        migrations.AddIndex(
            model_name="sighting",
            index=models.Index(fields=["country"], name="sighting_country_idx"),
        ),
    ]

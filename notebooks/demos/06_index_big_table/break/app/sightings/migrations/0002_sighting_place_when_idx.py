from django.db import migrations, models


class Migration(migrations.Migration):
    # What makemigrations writes: a plain CREATE INDEX, inside the migration's transaction.

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="sighting",
            index=models.Index(fields=["location", "sighted_at"], name="sighting_place_when_idx"),
        ),
    ]

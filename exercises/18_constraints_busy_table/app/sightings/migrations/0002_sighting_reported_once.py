from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="sighting",
            constraint=models.UniqueConstraint(
                fields=("reporter", "title", "sighted_at"), name="sighting_reported_once"
            ),
        ),
    ]

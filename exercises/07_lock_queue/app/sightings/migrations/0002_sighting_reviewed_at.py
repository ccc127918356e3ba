from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # A nullable column: no table rewrite, a few milliseconds of ACCESS EXCLUSIVE lock.
        migrations.AddField(
            model_name="sighting",
            name="reviewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

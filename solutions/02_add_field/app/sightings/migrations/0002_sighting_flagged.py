import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="sighting",
            name="flagged",
            field=models.BooleanField(db_default=False),
        ),
        migrations.AddField(
            model_name="sighting",
            name="edited_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
        ),
    ]

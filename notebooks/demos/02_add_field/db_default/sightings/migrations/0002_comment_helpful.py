from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="comment",
            name="helpful",
            field=models.IntegerField(db_default=0),
        ),
    ]

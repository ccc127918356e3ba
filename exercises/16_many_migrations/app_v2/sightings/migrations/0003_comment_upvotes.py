from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0002_sighting_verified'),
    ]

    operations = [
        migrations.AddField(
            model_name='comment',
            name='upvotes',
            field=models.IntegerField(db_default=0, default=0),
        ),
    ]

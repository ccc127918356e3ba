from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0005_backfill_slug'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='sighting',
            index=models.Index(fields=['verified', '-id'], name='sighting_verified_idx'),
        ),
    ]

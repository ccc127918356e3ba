from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0003_comment_upvotes'),
    ]

    operations = [
        migrations.AddField(
            model_name='sighting',
            name='slug',
            field=models.SlugField(db_default='', default='', max_length=200),
        ),
    ]

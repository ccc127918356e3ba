# What `makemigrations` writes for the renamed model (answering yes to "Was the model
# sightings.Comment renamed to Remark?"): ALTER TABLE sightings_comment RENAME TO sightings_remark.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0001_initial'),
    ]

    operations = [
        migrations.RenameModel(
            old_name='Comment',
            new_name='Remark',
        ),
    ]

# The model is renamed in Django's state only; the table keeps its name (Meta.db_table), so the
# database has nothing to do and the release before keeps reading and writing sightings_comment.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameModel(
                    old_name='Comment',
                    new_name='Remark',
                ),
                migrations.AlterModelTable(
                    name='remark',
                    table='sightings_comment',
                ),
            ],
            database_operations=[],
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    """The schema v1 can run on: v1's INSERTs don't name user_agent, so the database must fill it.
    Only the column's default changes (a catalogue change: no rewrite, no row touched)."""

    dependencies = [
        ('sightings', '0002_sighting_user_agent'),
    ]

    operations = [
        migrations.AlterField(
            model_name='sighting',
            name='user_agent',
            field=models.CharField(blank=True, db_default='', editable=False, max_length=300),
        ),
    ]

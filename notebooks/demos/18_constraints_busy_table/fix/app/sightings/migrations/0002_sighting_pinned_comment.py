import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The column only: NULL-able, no index, no constraint, so ADD COLUMN holds its ACCESS EXCLUSIVE
    lock for a moment and reads no row. Django's state gets the whole foreign key at once (index and
    constraint included): 0003 and 0004 build in the database what the state already says."""

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AddField(
                    model_name="sighting",
                    name="pinned_comment",
                    field=models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                        to="sightings.comment", db_index=False, db_constraint=False,
                    ),
                ),
            ],
            state_operations=[
                migrations.AddField(
                    model_name="sighting",
                    name="pinned_comment",
                    field=models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                        to="sightings.comment",
                    ),
                ),
            ],
        ),
    ]

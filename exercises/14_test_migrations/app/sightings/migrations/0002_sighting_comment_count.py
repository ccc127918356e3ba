from django.db import migrations, models
from django.db.models import Count, Subquery


def count_comments(apps, schema_editor):
    """Fill the new counter from the comments that exist already: one UPDATE for the whole table."""
    Sighting = apps.get_model("sightings", "Sighting")
    Comment = apps.get_model("sightings", "Comment")
    per_sighting = Comment.objects.values("sighting").annotate(n=Count("id")).values("n")
    Sighting.objects.update(comment_count=Subquery(per_sighting[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="sighting",
            name="comment_count",
            field=models.IntegerField(db_default=0),
        ),
        # Nothing to undo on the way back: removing the field drops the column.
        migrations.RunPython(count_comments, reverse_code=migrations.RunPython.noop),
    ]

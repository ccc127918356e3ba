from django.db import migrations
from django.db.models import F
from django.db.models.functions import Left, Length

# The new style guide: no period after the initial in a commenter's name,
# so "Alex B." becomes "Alex B".


def drop_period(apps, schema_editor):
    Comment = apps.get_model("sightings", "Comment")
    Comment.objects.filter(author__endswith=".").update(author=Left(F("author"), Length(F("author")) - 1))


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(drop_period),
    ]

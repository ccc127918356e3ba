from django.db import migrations, transaction
from django.db.models import F, Max, Value
from django.db.models.functions import Concat, Left, Length

# The new style guide: no period after the initial in a commenter's name,
# so "Alex B." becomes "Alex B".
WITH_PERIOD = r"^\S+ [A-Z]\.$"      # "Alex B."  : still to do
WITHOUT_PERIOD = r"^\S+ [A-Z]$"     # "Alex B"   : done (and what the reverse puts the period back on)
BATCH = 1_000                       # comment ids per transaction


def in_batches(apps, schema_editor, change):
    """Call change(queryset) on one slice of BATCH ids at a time, each in a short transaction of its own."""
    Comment = apps.get_model("sightings", "Comment")
    db = schema_editor.connection.alias
    top = Comment.objects.using(db).aggregate(top=Max("id"))["top"] or 0
    low = 0
    while low < top:
        with transaction.atomic(using=db):
            change(Comment.objects.using(db).filter(id__gt=low, id__lte=low + BATCH))
        low += BATCH


def drop_period(apps, schema_editor):
    # Only names that still have the period: a second run finds nothing to change.
    in_batches(apps, schema_editor, lambda rows: rows.filter(author__regex=WITH_PERIOD).update(
        author=Left(F("author"), Length(F("author")) - 1)))


def restore_period(apps, schema_editor):
    # The way back, built the same way: batched, and only names that lack the period.
    in_batches(apps, schema_editor, lambda rows: rows.filter(author__regex=WITHOUT_PERIOD).update(
        author=Concat(F("author"), Value("."))))


class Migration(migrations.Migration):
    # No transaction around the whole migration: each batch commits on its own.
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(drop_period, reverse_code=restore_period),
    ]

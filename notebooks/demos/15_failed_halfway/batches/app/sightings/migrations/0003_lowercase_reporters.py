from django.db import migrations, transaction
from django.db.models import Max
from django.db.models.functions import Lower

BATCH = 2_000          # sighting ids per transaction


def lowercase_reporters(apps, schema_editor):
    """The reporter page looks people up by their lowercased name: store it that way. One slice of
    ids at a time, each committed on its own, and only the rows that still need it: a run that
    was interrupted leaves the done batches done, and the next run skips them."""
    Sighting = apps.get_model("sightings", "Sighting")
    db = schema_editor.connection.alias
    top = Sighting.objects.using(db).aggregate(top=Max("id"))["top"] or 0
    low = 0
    while low < top:
        with transaction.atomic(using=db):
            (Sighting.objects.using(db).filter(id__gt=low, id__lte=low + BATCH)
             .exclude(reporter=Lower("reporter")).update(reporter=Lower("reporter")))
        low += BATCH


class Migration(migrations.Migration):
    # No transaction around the whole migration: each batch commits on its own (chapter 08).
    atomic = False

    dependencies = [
        ("sightings", "0002_sighting_reporter_idx"),
    ]

    operations = [
        migrations.RunPython(lowercase_reporters, migrations.RunPython.noop),
    ]

from django.db import migrations, transaction
from django.db.models import F, Max, Value
from django.db.models.functions import Concat, Left, Length

# Bigfoot goes international: every location gets its country, so "Bluff Creek, California"
# becomes "Bluff Creek, California, USA" and can't be confused with a place abroad.
COUNTRIES = {
    "California": "USA",
    "Oregon": "USA",
    "Washington": "USA",
    "British Columbia": "Canada",
}
BATCH_SIZE = 2_000   # rows per transaction: each batch commits on its own and holds its row locks briefly


def batches(Sighting, using):
    """The table in slices of BATCH_SIZE primary keys (an index range scan each), newest last."""
    last = Sighting.objects.using(using).aggregate(last=Max("id"))["last"] or 0
    for start in range(0, last, BATCH_SIZE):
        yield Sighting.objects.using(using).filter(id__gt=start, id__lte=start + BATCH_SIZE)


def add_country(apps, schema_editor):
    Sighting = apps.get_model("sightings", "Sighting")
    using = schema_editor.connection.alias
    for batch in batches(Sighting, using):
        with transaction.atomic(using=using):   # one short transaction per batch
            for region, country in COUNTRIES.items():
                # Only rows that still END with the region: rows already converted end with the
                # country, so a second run (after a crash half-way, or to catch rows the old
                # code wrote meanwhile) finds nothing to do.
                batch.filter(location__endswith=f", {region}").update(
                    location=Concat(F("location"), Value(f", {country}"))
                )


def remove_country(apps, schema_editor):
    """The reverse: `migrate sightings 0001` takes the countries off again (also batched, also re-runnable)."""
    Sighting = apps.get_model("sightings", "Sighting")
    using = schema_editor.connection.alias
    for batch in batches(Sighting, using):
        with transaction.atomic(using=using):
            for region, country in COUNTRIES.items():
                suffix = f", {country}"
                batch.filter(location__endswith=f", {region}{suffix}").update(
                    location=Left(F("location"), Length(F("location")) - len(suffix))
                )


class Migration(migrations.Migration):

    # Don't wrap the whole migration in one transaction: each batch commits on its own.
    # (Keep data migrations like this one in a migration of their own, without schema changes.)
    atomic = False

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(add_country, reverse_code=remove_country),
    ]

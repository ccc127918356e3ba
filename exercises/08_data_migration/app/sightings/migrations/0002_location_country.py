from django.db import migrations
from django.db.models import F, Value
from django.db.models.functions import Concat

# Bigfoot goes international: every location gets its country, so "Bluff Creek, California"
# becomes "Bluff Creek, California, USA" and can't be confused with a place abroad.
COUNTRIES = {
    "California": "USA",
    "Oregon": "USA",
    "Washington": "USA",
    "British Columbia": "Canada",
}


def add_country(apps, schema_editor):
    Sighting = apps.get_model("sightings", "Sighting")
    for region, country in COUNTRIES.items():
        Sighting.objects.filter(location__contains=region).update(
            location=Concat(F("location"), Value(f", {country}"))
        )


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(add_country),
    ]

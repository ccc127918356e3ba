from django.db import migrations, models


def split_state(apps, schema_editor):
    """"Bluff Creek, California" -> location "Bluff Creek", state "California". A location without
    a state ("near our cabin") stays as it is, with no state."""
    Sighting = apps.get_model("sightings", "Sighting")
    for s in Sighting.objects.filter(location__contains=", "):
        s.location, _, s.state = s.location.rpartition(", ")
        s.save(update_fields=["location", "state"])


def join_state(apps, schema_editor):
    """The way back: "Bluff Creek" + "California" -> "Bluff Creek, California"; no state, no comma."""
    Sighting = apps.get_model("sightings", "Sighting")
    for s in Sighting.objects.exclude(state=""):
        s.location = f"{s.location}, {s.state}"
        s.save(update_fields=["location"])


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="sighting",
            name="state",
            field=models.CharField(blank=True, db_default="", max_length=100),
        ),
        migrations.RunPython(split_state, reverse_code=join_state),
    ]

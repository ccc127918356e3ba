import django.db.models.deletion
from django.db import migrations, models
from django.utils.text import slugify


def fill_search_entries(apps, schema_editor):
    """One entry per sighting, its words computed in Python: seconds on a big table, all of it in
    this migration's one transaction (Django's default on PostgreSQL)."""
    Sighting = apps.get_model("sightings", "Sighting")
    SearchEntry = apps.get_model("sightings", "SearchEntry")
    batch = []
    for sighting_id, title, location in Sighting.objects.values_list("id", "title", "location").iterator(chunk_size=2000):
        batch.append(SearchEntry(sighting_id=sighting_id, words=slugify(f"{title} {location}").replace("-", " ")))
        if len(batch) == 2000:
            SearchEntry.objects.bulk_create(batch)
            batch = []
    SearchEntry.objects.bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("words", models.TextField()),
                ("sighting", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                                  related_name="search_entry", to="sightings.sighting")),
            ],
        ),
        migrations.RunPython(fill_search_entries, migrations.RunPython.noop),
    ]

"""Old sightings get their slug (new ones get it in Sighting.save()).

Marked elidable when it was written ("only the rows that exist today need it"): `squashmigrations`
leaves elidable operations out of the migration it writes."""
from django.db import migrations
from django.utils.text import slugify


def fill_slugs(apps, schema_editor):
    Sighting = apps.get_model("sightings", "Sighting")
    todo = list(Sighting.objects.filter(slug="").only("id", "title"))
    for s in todo:
        s.slug = slugify(s.title)[:200]
    Sighting.objects.bulk_update(todo, ["slug"], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0004_sighting_slug'),
    ]

    operations = [
        migrations.RunPython(fill_slugs, migrations.RunPython.noop, elidable=True),
    ]

"""Backfill: the rows that were there before the trigger, in batches, each its own transaction.

Not atomic: a batch commits on its own and holds row locks on its rows for a moment, never a lock
on the table. Rows already equal are skipped, so a retry does only what is left.
"""
from django.db import migrations, transaction

BATCH = 10_000


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM sightings_sighting")
        last = cursor.fetchone()[0]
    start = 0
    while start < last:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sightings_sighting SET score_big = score WHERE id > %s AND id <= %s "
                "AND score_big IS DISTINCT FROM score",
                [start, start + BATCH],
            )
        start += BATCH


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('sightings', '0002_sighting_score_big'),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]

"""Backfill: every row that was there before the trigger, in batches of its own transaction each.

Touching a row (`SET reporter = reporter`) fires 0002's trigger, which writes `reporter_short`: one
rule, in one place, for old rows and new. Rows already right are skipped, so a second run (a retry
after a failure half-way) only does what is left. Not atomic: each batch commits on its own, holding
row locks on 2,000 rows for a moment, never a table lock.
"""
from django.db import migrations, transaction

BATCH = 2000


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM sightings_sighting")
        last = cursor.fetchone()[0]
    start = 0
    while start < last:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sightings_sighting SET reporter = reporter WHERE id > %s AND id <= %s "
                "AND reporter_short IS DISTINCT FROM (CASE WHEN char_length(reporter) > 60 "
                "THEN left(reporter, 59) || '…' ELSE reporter END)",
                [start, start + BATCH],
            )
        start += BATCH


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('sightings', '0002_sighting_reporter'),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]

"""
Fill Sighting.region for the rows that don't have it yet -- in small batches, outside any
migration, while the site serves.

    python manage.py backfill_region                     # batches of 500 rows
    python manage.py backfill_region --batch-size 200 --pause 0.05

- Batched: each batch is its own short transaction, so row locks last milliseconds, not the
  whole run, and a failure loses one batch, not all the work before it.
- Idempotent: it only touches rows WHERE region IS NULL; a second run finds nothing to do.
- Resumable: stop it (Ctrl-C, a deploy, a crash) and run it again; it carries on from the rows
  still missing a region.
Run it once every writer sets `region` itself (release v2 on every slot): rows that the old
release inserts later would stay NULL.
"""
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from sightings.models import Sighting, region_of


class Command(BaseCommand):
    help = "Fill Sighting.region where it is NULL, in batches (safe to re-run; resumes where it stopped)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, metavar="N",
                            help="rows per batch, each in its own transaction (default: 500)")
        parser.add_argument("--pause", type=float, default=0.0, metavar="SECONDS",
                            help="sleep between batches, to leave the database room for the site")

    def handle(self, *args, batch_size, pause, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        started = time.monotonic()
        last_id, batches, filled = 0, 0, 0
        while True:
            with transaction.atomic():
                # Walk the primary key upwards: each batch is an index range scan, never a
                # re-read of the rows already done. FOR UPDATE: a row the site is saving
                # right now waits for us (or we for it), never a lost update.
                rows = list(
                    Sighting.objects.select_for_update()
                    .filter(region__isnull=True, id__gt=last_id)
                    .order_by("id")
                    .only("id", "location")[:batch_size]
                )
                if not rows:
                    break
                for row in rows:
                    row.region = region_of(row.location)
                Sighting.objects.bulk_update(rows, ["region"])
            last_id = rows[-1].id
            batches += 1
            filled += len(rows)
            self.stdout.write(f"batch {batches}: filled {len(rows)} rows (up to id {last_id})")
            if pause:
                time.sleep(pause)
        left = Sighting.objects.filter(region__isnull=True).count()
        self.stdout.write(
            f"Filled {filled:,} rows in {batches} batch(es) in {time.monotonic() - started:.2f} s; "
            f"{left:,} still without a region."
        )

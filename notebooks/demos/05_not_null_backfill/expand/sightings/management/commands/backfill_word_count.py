"""
Fill Comment.word_count where it is still NULL: in batches, outside any migration, while the
site serves.

    python manage.py backfill_word_count --batch-size 300

- Batched: each batch is its own short transaction (row locks for milliseconds, not minutes).
- Idempotent: it only touches rows WHERE word_count IS NULL; run twice, it finds nothing to do.
- Resumable: interrupted, it carries on from the rows still missing a count.
Run it once every writer sets word_count itself (v2 on every slot), or v1 leaves new NULLs behind.
"""
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from sightings.models import Comment, word_count_of


class Command(BaseCommand):
    help = "Fill Comment.word_count where it is NULL, in batches (safe to re-run)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, metavar="N")

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        last_id, batches, filled = 0, 0, 0
        while True:
            with transaction.atomic():
                # Up the primary key, one batch at a time; FOR UPDATE so a concurrent save of the
                # same row waits for this batch (or this batch for it): no lost update.
                rows = list(Comment.objects.select_for_update()
                            .filter(word_count__isnull=True, id__gt=last_id)
                            .order_by("id").only("id", "body")[:batch_size])
                if not rows:
                    break
                for row in rows:
                    row.word_count = word_count_of(row.body)
                Comment.objects.bulk_update(rows, ["word_count"])
            last_id, batches, filled = rows[-1].id, batches + 1, filled + len(rows)
        left = Comment.objects.filter(word_count__isnull=True).count()
        self.stdout.write(f"Filled {filled} comments in {batches} batch(es); {left} still without a word count.")

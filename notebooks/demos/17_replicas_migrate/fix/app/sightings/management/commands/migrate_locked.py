"""`manage.py migrate_locked`: `migrate`, one replica at a time.

The first replica to ask gets a PostgreSQL advisory lock (a lock on a number, not on a table) and
migrates; the others wait in `pg_advisory_lock` until it is done, then run `migrate` themselves
and find nothing left to do. The lock is taken BEFORE `migrate` reads django_migrations, and
held by the session (not a transaction) until every migration has run.
"""
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

# Any number, as long as every replica of every release uses the same one.
MIGRATE_LOCK = 7_000_017


class Command(BaseCommand):
    help = "Run `migrate` while holding an advisory lock: one replica at a time."

    def handle(self, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute("select pg_advisory_lock(%s)", [MIGRATE_LOCK])   # waits for the replica that holds it
        try:
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
        finally:
            with connection.cursor() as cursor:
                cursor.execute("select pg_advisory_unlock(%s)", [MIGRATE_LOCK])

"""`manage.py migrate_one_at_a_time`: what each replica runs before it serves.

Every replica of a release starts at the same moment and runs this. One of them takes a PostgreSQL
advisory lock and migrates; the others wait their turn, then find nothing left to do. They wait
by asking again every half second (`pg_try_advisory_lock` answers at once), never inside a
statement: a statement that waits holds a snapshot, and the migration's CREATE INDEX CONCURRENTLY
waits for every older snapshot to end. The waiting replica would wait for the migrating one, and
the migrating one for it: a deadlock. A replica that can't get its turn within --wait seconds
gives up (exit 1) rather than holding up the deploy forever.
"""
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

# Any number, as long as every replica of every release uses the same one.
MIGRATE_LOCK = 20_171_017


class Command(BaseCommand):
    help = "Run `migrate` in one replica at a time; the others wait their turn."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=100.0,
                            help="seconds to wait for the other replicas' migrations (default 100)")

    def handle(self, *args, wait, **options):
        deadline = time.monotonic() + wait
        with connection.cursor() as cursor:
            while True:
                cursor.execute("select pg_try_advisory_lock(%s)", [MIGRATE_LOCK])
                if cursor.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise CommandError(f"another replica has been migrating for more than {wait:g} s")
                time.sleep(0.5)   # outside any statement: this connection holds no snapshot meanwhile
        try:
            # the plan is made now, under the lock: a replica that waited finds the migrations applied
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
        finally:
            with connection.cursor() as cursor:
                cursor.execute("select pg_advisory_unlock(%s)", [MIGRATE_LOCK])

"""`manage.py warm_cache`: render the pages visitors ask for first, so that their cache entries
(this release's keys) exist before the release takes traffic. Run it as a deploy hook, with the
release's APP_RELEASE set as its app servers will have it."""
from django.conf import settings
from django.core.management.base import BaseCommand
from django.test import Client

PAGES = ["/", "/sightings/new/"]


class Command(BaseCommand):
    help = "Fill this release's cache entries before it serves"

    def handle(self, *args, **options):
        client = Client(SERVER_NAME=settings.ALLOWED_HOSTS[0])
        for path in PAGES:
            status = client.get(path).status_code
            self.stdout.write(f"warmed {path} for release {settings.APP_RELEASE}: {status}")

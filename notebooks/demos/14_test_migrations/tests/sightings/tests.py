"""Release v2's test of its migration 0002_sighting_state: forward and backward, on rows like
production's (a location without a state included), and the old release's INSERT on the new schema."""
from datetime import datetime, timezone

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_test_migrations.contrib.unittest_case import MigratorTestCase

WHEN = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)
LOCATIONS = ["Bluff Creek, California", "Mount Hood, Oregon", "near our cabin"]


class StateMigrationTest(MigratorTestCase):
    migrate_from = ("sightings", "0001_initial")      # the database as release v1 left it
    migrate_to = ("sightings", "0002_sighting_state")  # the migration under test

    def prepare(self):
        """The database is at 0001: write rows with the models as they were then."""
        Sighting = self.old_state.apps.get_model("sightings", "Sighting")
        for where in LOCATIONS:
            Sighting.objects.create(title="tall figure", description="-", location=where,
                                    sighted_at=WHEN, reporter="test")

    def test_forward_splits_every_location(self):
        Sighting = self.new_state.apps.get_model("sightings", "Sighting")
        rows = list(Sighting.objects.order_by("id").values_list("location", "state"))
        self.assertEqual(rows, [("Bluff Creek", "California"), ("Mount Hood", "Oregon"), ("near our cabin", "")])

    def test_backward_gives_back_every_location(self):
        MigrationExecutor(connection).migrate([("sightings", "0001_initial")])   # a rollback
        Sighting = self.old_state.apps.get_model("sightings", "Sighting")
        self.assertEqual(list(Sighting.objects.order_by("id").values_list("location", flat=True)), LOCATIONS)

    def test_old_release_can_still_report_a_sighting(self):
        """Release v1's INSERT (the model as it was at 0001) on v2's schema."""
        OldSighting = self.old_state.apps.get_model("sightings", "Sighting")
        OldSighting.objects.create(title="posted by v1", description="-", location="Willow Creek, California",
                                   sighted_at=WHEN, reporter="v1")

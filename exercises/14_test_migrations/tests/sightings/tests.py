"""Your test for migration 0002_sighting_comment_count (release v2 = bigfoot_app/ + app/ + tests/).

Run it yourself:
    lab release build v2t --force --overlay exercises/14_test_migrations/app --overlay exercises/14_test_migrations/tests
    lab manage v2t test sightings

`lab check 14` runs it on the kit's release AND on others the check keeps: it must fail on every
broken one and pass on the one that is right.
"""
from django_test_migrations.contrib.unittest_case import MigratorTestCase


class CommentCountMigrationTest(MigratorTestCase):
    migrate_from = ("sightings", "0001_initial")
    migrate_to = ("sightings", "0002_sighting_comment_count")

    def prepare(self):
        """Runs on the database at 0001 (the old release's schema), before 0002 is applied."""

    def test_migration(self):
        """Runs once 0002 has been applied."""

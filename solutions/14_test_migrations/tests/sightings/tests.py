"""Tests for migration 0002_sighting_comment_count (release v2 = bigfoot_app/ + app/ + tests/).

Run them yourself:
    lab release build v2t --force --overlay exercises/14_test_migrations/app --overlay exercises/14_test_migrations/tests
    lab manage v2t test sightings

`lab check 14` runs them on the kit's release AND on others the check keeps: they must fail on
every broken one and pass on the one that is right.
"""
from datetime import datetime, timezone

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_test_migrations.contrib.unittest_case import MigratorTestCase

WHEN = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)


class CommentCountMigrationTest(MigratorTestCase):
    migrate_from = ("sightings", "0001_initial")
    migrate_to = ("sightings", "0002_sighting_comment_count")

    def prepare(self):
        """Runs on the database at 0001 (the old release's schema), before 0002 is applied: data
        like production's, where sightings don't all have the same number of comments."""
        Sighting = self.old_state.apps.get_model("sightings", "Sighting")
        Comment = self.old_state.apps.get_model("sightings", "Comment")
        self.expected = {}
        for title, comments in (("two comments", 2), ("none yet", 0), ("five comments", 5)):
            s = Sighting.objects.create(title=title, description="-", location="Bluff Creek, California",
                                        sighted_at=WHEN, reporter="test")
            for i in range(comments):
                Comment.objects.create(sighting=s, author=f"reader {i}", body="I saw it too")
            self.expected[s.pk] = comments

    def test_forward_counts_each_sightings_comments(self):
        Sighting = self.new_state.apps.get_model("sightings", "Sighting")
        counts = dict(Sighting.objects.values_list("pk", "comment_count"))
        self.assertEqual(counts, self.expected)

    def test_backward_keeps_the_data(self):
        """0002 must run backwards on real data (a rollback), and give back what was there."""
        executor = MigrationExecutor(connection)
        executor.migrate([("sightings", "0001_initial")])
        Sighting = self.old_state.apps.get_model("sightings", "Sighting")
        Comment = self.old_state.apps.get_model("sightings", "Comment")
        self.assertEqual(set(Sighting.objects.values_list("pk", flat=True)), set(self.expected))
        self.assertEqual(Comment.objects.count(), sum(self.expected.values()))

    def test_old_release_can_still_report_a_sighting(self):
        """Release v1's code, on release v2's schema: its INSERT doesn't name comment_count."""
        OldSighting = self.old_state.apps.get_model("sightings", "Sighting")
        s = OldSighting.objects.create(title="posted by v1", description="-", location="Willow Creek, California",
                                       sighted_at=WHEN, reporter="v1")
        Sighting = self.new_state.apps.get_model("sightings", "Sighting")
        self.assertEqual(Sighting.objects.get(pk=s.pk).comment_count, 0)

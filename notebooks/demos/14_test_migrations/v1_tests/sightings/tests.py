"""Release v1's own tests: what its code does, through its views. CI runs them on v1's schema as
usual, and also on the NEXT release's schema: during the deploy this code runs there."""
from django.test import TestCase
from django.urls import reverse

from .models import Comment, Sighting


class ReportAndCommentTest(TestCase):
    def test_report_a_sighting(self):
        answer = self.client.post(reverse("sightings:create"), {
            "title": "Tall figure on the logging road", "description": "It crossed in three strides.",
            "location": "Bluff Creek, California", "sighted_at": "2026-11-20T07:00", "reporter": "Alex"})
        self.assertEqual(answer.status_code, 302)
        self.assertEqual(Sighting.objects.get().location, "Bluff Creek, California")

    def test_comment_on_a_sighting(self):
        s = Sighting.objects.create(title="Howl", description="-", location="Willow Creek, California",
                                    sighted_at="2026-11-20T07:00Z", reporter="Sam")
        answer = self.client.post(reverse("sightings:comment", args=[s.pk]), {"author": "Kim", "body": "Me too"})
        self.assertEqual(answer.status_code, 302)
        self.assertEqual(Comment.objects.get().sighting, s)

    def test_list_page_shows_the_location(self):
        Sighting.objects.create(title="Prints", description="-", location="Mount Hood, Oregon",
                                sighted_at="2026-11-20T07:00Z", reporter="Jo")
        self.assertContains(self.client.get(reverse("sightings:list")), "Mount Hood, Oregon")

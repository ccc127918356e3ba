from django.db import models
from django.urls import reverse


class Sighting(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField()
    location = models.CharField(max_length=200)
    sighted_at = models.DateTimeField()
    reporter = models.CharField(max_length=100)
    score = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Newest reports first. Ordering by the primary key uses its index,
        # so list pages stay fast even with a million rows.
        ordering = ["-id"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("sightings:detail", args=[self.pk])


class Note(models.Model):
    # Release v2: comments are "notes" now (what the field teams call them), in the code and in the
    # database: the table is sightings_note.
    sighting = models.ForeignKey(
        Sighting, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.CharField(max_length=100)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.author} on {self.sighting}"

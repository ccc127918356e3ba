from django.db import models
from django.urls import reverse


def region_of(location):
    """The region of a location: the part after its last comma.

    "Bluff Creek, California" -> "California"; "Willow Creek, CA" -> "CA".
    """
    return location.rsplit(",", 1)[-1].strip()


class Sighting(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField()
    location = models.CharField(max_length=200)
    sighted_at = models.DateTimeField()
    reporter = models.CharField(max_length=100)
    score = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # Sightings are grouped by region (state or province), filled in from `location`.
    # Release v3: every row has one (v2 sets it, the backfill filled the old rows): NOT NULL.
    region = models.CharField(max_length=100, editable=False)

    class Meta:
        # Newest reports first. Ordering by the primary key uses its index,
        # so list pages stay fast even with a million rows.
        ordering = ["-id"]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        if not self.region:
            self.region = region_of(self.location)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("sightings:detail", args=[self.pk])


class Comment(models.Model):
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

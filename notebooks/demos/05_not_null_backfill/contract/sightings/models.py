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


def word_count_of(body):
    """How many words a comment has: "I saw the same tracks" -> 5."""
    return len(body.split())


class Comment(models.Model):
    sighting = models.ForeignKey(
        Sighting, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.CharField(max_length=100)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Long comments get a "read more"; the word count is derived from `body`.
    # Release v3: every row has one (v2 sets it on save, the backfill filled the old rows): NOT NULL.
    word_count = models.IntegerField(editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.author} on {self.sighting}"

    def save(self, *args, **kwargs):
        if self.word_count is None:
            self.word_count = word_count_of(self.body)
        super().save(*args, **kwargs)

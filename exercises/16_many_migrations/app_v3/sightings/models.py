from django.db import models
from django.utils.text import slugify
from django.urls import reverse


class Sighting(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField()
    location = models.CharField(max_length=200)
    sighted_at = models.DateTimeField()
    reporter = models.CharField(max_length=100)
    score = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    verified = models.BooleanField(default=False, db_default=False)          # 0002
    slug = models.SlugField(max_length=200, default="", db_default="")       # 0004 (0005 fills old rows)

    class Meta:
        # Newest reports first. Ordering by the primary key uses its index,
        # so list pages stay fast even with a million rows.
        ordering = ["-id"]
        indexes = [models.Index(fields=["verified", "-id"], name="sighting_verified_idx")]   # 0006

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.title)[:200]
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("sightings:detail", args=[self.pk])


class Comment(models.Model):
    sighting = models.ForeignKey(
        Sighting, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.CharField(max_length=100)
    body = models.TextField()
    upvotes = models.IntegerField(default=0, db_default=0)                    # 0003
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.author} on {self.sighting}"

"""The places with the most sightings, for the box on the list page.

Counting every sighting by place reads the whole table (a million rows in production), so the
answer is computed once and cached for everyone: a list of (location, number of sightings).
"""
from django.core.cache import cache
from django.db.models import Count

from .models import Sighting

HOW_MANY = 5


def top_locations():
    rows = (Sighting.objects.values("location").annotate(n=Count("id"))
            .order_by("-n", "location")[:HOW_MANY])
    return [(row["location"], row["n"]) for row in rows]


def hotspots():
    return cache.get_or_set("hotspots", top_locations)

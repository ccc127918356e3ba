"""The places with the most sightings, for the box on the list page.

Counting every sighting by place reads the whole table (a million rows in production), so the
answer is computed once and cached for everyone. v3 also shows when each place last had a
sighting, so a hotspot is now an object of its own.
"""
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, Max

from .models import Sighting

HOW_MANY = 5


@dataclass(frozen=True)
class Hotspot:
    location: str
    sightings: int
    last_seen: datetime


def top_locations():
    rows = (Sighting.objects.values("location").annotate(n=Count("id"), last=Max("sighted_at"))
            .order_by("-n", "location")[:HOW_MANY])
    return [Hotspot(row["location"], row["n"], row["last"]) for row in rows]


def hotspots():
    """The hotspots, each with the width of its bar (the busiest place = 100)."""
    spots = cache.get_or_set("hotspots", top_locations)
    most = max((h.sightings for h in spots), default=0)
    return [(h, round(100 * h.sightings / most)) for h in spots]

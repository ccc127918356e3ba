from django import template

from sightings.hotspots import hotspots as cached_hotspots

register = template.Library()


@register.inclusion_tag("sightings/hotspots.html")
def hotspots():
    return {"spots": cached_hotspots()}

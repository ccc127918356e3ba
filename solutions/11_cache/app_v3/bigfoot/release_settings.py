"""Release v3's own settings (bigfoot/settings.py reads this file last).

The cache every app server shares: Django's database cache, one table on the app's PostgreSQL.
While v3 rolls out, v2 still runs on the other slot with the same table (v2's copy of this file
is app_v2/bigfoot/release_settings.py).

Two kinds of entries live in that table, and they need opposite keys:
  - what a release computes from its own code (the hotspots, pickled objects of its classes):
    keys of each release's own, so no release is ever served what another one cached;
  - who is logged in (sessions): keys that never change with the release, so every release
    finds the sessions every other one wrote, v2's included.
"""
import os

CACHES = {
    # What this release computes: the release's name (the APP_RELEASE every slot is started with)
    # in front of every key. v3 never reads what v2 wrote, nor v4 what v3 wrote, and nobody has to
    # remember to change anything.
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "bigfoot_cache",   # the table
        "TIMEOUT": 600,                # seconds an entry lives
        "KEY_PREFIX": f"bigfoot:{os.environ.get('APP_RELEASE', 'dev')}",
    },
    # Sessions: the same table, under exactly the keys v2 writes them (v2's KEY_PREFIX and VERSION),
    # for this release and every one after it. Moderators stay logged in through every deploy.
    "sessions": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "bigfoot_cache",
        "KEY_PREFIX": "bigfoot",
    },
}

SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_CACHE_ALIAS = "sessions"

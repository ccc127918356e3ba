"""Release v3's own settings (bigfoot/settings.py reads this file last).

The cache every app server shares: Django's database cache, one table on the app's PostgreSQL.
While v3 rolls out, v2 still runs on the other slot with the same table (v2's copy of this file
is app_v2/bigfoot/release_settings.py).
"""
import os

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "bigfoot_cache",   # the table
        "TIMEOUT": 600,                # seconds an entry lives
        # Every release its own keys: the release's name (the APP_RELEASE every slot is started
        # with, as settings.APP_RELEASE reads it) in front of every key. v3 never reads what v2
        # wrote, nor v4 what v3 wrote, and nobody has to remember to change anything.
        "KEY_PREFIX": f"bigfoot:{os.environ.get('APP_RELEASE', 'dev')}",
    }
}

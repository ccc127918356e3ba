"""The chapter's release settings: a cache every app server shares, with keys of each release's own.

Django's database cache: one table on the app's PostgreSQL, read and written by every slot.
"""
import os

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "bigfoot_cache",   # the table
        "TIMEOUT": 600,                # seconds an entry lives
        # The release's name (APP_RELEASE, which every slot is started with) in front of every key:
        # a new release starts with entries of its own, and never reads the previous release's.
        "KEY_PREFIX": os.environ.get("APP_RELEASE", "dev"),
    }
}

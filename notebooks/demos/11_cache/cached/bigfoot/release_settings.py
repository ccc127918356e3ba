"""The chapter's release settings: a cache every app server shares.

Django's database cache: one table on the app's PostgreSQL (`manage.py createcachetable` makes
it), so every slot, whatever release it runs, reads and writes the same entries.
"""
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "bigfoot_cache",   # the table
        "TIMEOUT": 600,                # seconds an entry lives
    }
}

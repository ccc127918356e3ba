"""Release v2's own settings (bigfoot/settings.py reads this file last).

v2 added a cache that every app server shares: Django's database cache, a table on the app's
PostgreSQL (`manage.py createcachetable` makes it). Every slot, whatever release it runs, reads
and writes the same table.
"""
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "bigfoot_cache",   # the table
        "TIMEOUT": 600,                # seconds an entry lives
        "KEY_PREFIX": "bigfoot",       # in front of every key: keeps our entries apart from other apps'
    }
}

# Who is logged in (the moderators, who work in the admin all day): their sessions live in the
# same shared cache. Fast, and whichever slot a moderator's next request reaches finds them.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"

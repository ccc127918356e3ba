"""Release v3's own settings (bigfoot/settings.py reads this file last).

The cache every app server shares: Django's database cache, one table on the app's PostgreSQL.
While v3 rolls out, v2 still runs on the other slot with the same table (v2's copy of this file
is app_v2/bigfoot/release_settings.py).
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

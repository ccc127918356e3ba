"""
Django settings for the bigfoot project.

Twelve-factor style: every deploy-specific value comes from an environment
variable, so the same code runs unchanged on every server and every slot.

Environment variables read here:

    DATABASE_URL          required, e.g. postgresql://bigfoot:secret@127.0.0.1:5433/bigfoot
    DB_CONN_MAX_AGE       seconds to keep DB connections open (default 60)
    SECRET_KEY            required unless DEBUG=1
    DEBUG                 1/true/yes/on to enable (default off)
    ALLOWED_HOSTS         comma separated (default "127.0.0.1,localhost")
    CSRF_TRUSTED_ORIGINS  comma separated, e.g. "http://127.0.0.1:8080" (default empty)
    STATIC_ROOT           where collectstatic writes (default <BASE_DIR>/staticfiles)
    APP_RELEASE           release name shown in the footer / X-App-Release (default "dev")
    APP_SLOT              slot name shown in the footer / X-App-Slot (default "local")
"""
import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    value = os.environ.get(name, default)
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_database_url(url):
    """Turn postgresql://user:password@host:port/name?opt=val into a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgresql://, got scheme {parts.scheme!r}."
        )
    options = dict(parse_qsl(parts.query))  # e.g. ?sslmode=require
    # Fail fast (and let /healthz answer 503) when the database is unreachable.
    options.setdefault("connect_timeout", "5")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
    }


# --- Core -------------------------------------------------------------------

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "django-insecure-dev-only-bigfoot-key-do-not-use-in-production"
    else:
        raise ImproperlyConfigured(
            "The SECRET_KEY environment variable is not set. Set it to a long "
            "random string (or set DEBUG=1 for local development)."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

APP_RELEASE = os.environ.get("APP_RELEASE", "dev")
APP_SLOT = os.environ.get("APP_SLOT", "local")


# --- Applications -----------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "sightings",
]

MIDDLEWARE = [
    # First, so it wraps everything below: static files, 404s and 500s all
    # get the X-App-Release / X-App-Slot headers.
    "bigfoot.middleware.ReleaseHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from STATIC_ROOT (the files collectstatic wrote).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bigfoot.urls"
WSGI_APPLICATION = "bigfoot.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "bigfoot.context_processors.release",
            ],
            # What a template prints for a variable that doesn't exist: nothing, by default, which
            # hides a template that still names a field the model lost. A test environment can set
            # a visible marker ("%s" becomes the variable's name). Django's admin relies on the
            # silence, so production keeps "".
            "string_if_invalid": os.environ.get("TEMPLATE_STRING_IF_INVALID", ""),
        },
    },
]


# --- Database ---------------------------------------------------------------

DATABASE_URL = os.environ.get("DATABASE_URL")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "The DATABASE_URL environment variable is not set, e.g. "
        "DATABASE_URL=postgresql://bigfoot:secret@127.0.0.1:5433/bigfoot"
    )

DATABASES = {
    "default": {
        **parse_database_url(DATABASE_URL),
        "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        "CONN_HEALTH_CHECKS": True,
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Auth -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


# --- Internationalization ---------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True


# --- Static files -----------------------------------------------------------
# `manage.py collectstatic` copies every static file into STATIC_ROOT with a
# content hash in its name (app.css -> app.3f2a9c1b7e4d.css) and writes
# staticfiles.json, the manifest {% static %} uses to find the hashed name.
# WhiteNoise serves exactly the files in STATIC_ROOT: a hashed name from
# another release is a 404.

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
    },
}

# Only serve what collectstatic put in STATIC_ROOT (no app-directory finders),
# except in local development with DEBUG=1.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG


# --- Security (plain HTTP lab: no SSL redirect, HSTS or secure-only cookies) -

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True


# --- Logging: everything to stderr (gunicorn's error log) -------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "format": "[{asctime}] {levelname} {name}: {message}",
            "style": "{",
        },
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
        },
    },
    "root": {
        "handlers": ["stderr"],
        "level": "INFO",
    },
    "loggers": {
        # Unhandled exceptions (500s) are logged here with their traceback.
        "django.request": {
            "handlers": ["stderr"],
            "level": "WARNING",
            "propagate": False,
        },
    },
}


# --- A release's own settings ------------------------------------------------
# A release may bring settings of its own in bigfoot/release_settings.py (e.g. a
# cache every server shares). Without that file Django's defaults apply: the
# cache is a memory cache inside each worker process, which no other process sees.
try:
    from .release_settings import *  # noqa: E402,F401,F403
except ModuleNotFoundError as missing:
    if missing.name != "bigfoot.release_settings":
        raise

"""
WSGI config for the bigfoot project.

It exposes the WSGI callable as a module-level variable named ``application``.
Run it with e.g. ``gunicorn bigfoot.wsgi``.
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bigfoot.settings")

application = get_wsgi_application()

from django.apps import AppConfig


class SightingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sightings"
    verbose_name = "Bigfoot sightings"

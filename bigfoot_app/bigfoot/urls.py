"""URL configuration for the bigfoot project."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("sightings.urls")),
]

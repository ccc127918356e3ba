from django.urls import path

from . import views

app_name = "sightings"

urlpatterns = [
    path("", views.sighting_list, name="list"),
    path("sightings/new/", views.sighting_create, name="create"),
    path("sightings/<int:pk>/", views.sighting_detail, name="detail"),
    path("sightings/<int:pk>/comment/", views.comment_create, name="comment"),
    path("healthz", views.healthz, name="healthz"),
]

"""Portal URLs of the equipment app: the catalogue and stock sub-domains."""

from django.urls import include, path

app_name = "equipment"

urlpatterns = [
    path("", include("equipment.catalog.urls")),
    path("", include("equipment.stock.urls")),
]

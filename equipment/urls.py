"""Portal URLs of the equipment app: the catalogue, stock and patient-equipment sub-domains."""

from django.urls import include, path

app_name = "equipment"

urlpatterns = [
    path("", include("equipment.catalog.urls")),
    path("", include("equipment.stock.urls")),
    path("", include("equipment.fleet.urls")),
]

"""Portal URLs of the equipment app: catalogue, stock, patient equipment, delivery."""

from django.urls import include, path

app_name = "equipment"

urlpatterns = [
    path("", include("equipment.catalog.urls")),
    path("", include("equipment.stock.urls")),
    path("", include("equipment.fleet.urls")),
    path("", include("equipment.delivery.urls")),
]

"""Portal URLs of stock (included into the ``equipment`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("stock/", views.stock_overview, name="stock"),
    path("stock/low", views.low_stock, name="low_stock"),
    path("stock/ledger", views.movements, name="movements"),
    path("stock/receive", views.receive, name="receive"),
    path("stock/transfer", views.transfer, name="transfer"),
    path("stock/adjust", views.adjust, name="adjust"),
    path("stock/reserve", views.reserve, name="reserve"),
    path("stock/dispense", views.dispense, name="dispense"),
    path("stock/reorder-point", views.reorder_point, name="reorder_point"),
    path(
        "reservations/<uuid:public_id>/release",
        views.reservation_release_view,
        name="reservation_release",
    ),
    path(
        "reservations/<uuid:public_id>/dispense",
        views.reservation_dispense_view,
        name="reservation_dispense",
    ),
    path("serials/", views.serial_list, name="serials"),
    path("serials/<uuid:public_id>/", views.serial_detail, name="serial_detail"),
    path("serials/<uuid:public_id>/<slug:action>", views.serial_action, name="serial_action"),
]

"""Portal URLs of patient equipment (included into the ``equipment`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("patients/<uuid:public_id>/", views.patient_equipment, name="patient_equipment"),
    path(
        "patient-equipment/<uuid:public_id>/rental-month",
        views.rental_month_add,
        name="rental_month_add",
    ),
]

"""Portal URLs of the charges ledger (included into the ``billing`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("charges/", views.charge_list, name="charges"),
    path("charges/held", views.held_charges, name="held_charges"),
    path("patients/<uuid:public_id>/charges", views.patient_charges_tab, name="patient_charges"),
]

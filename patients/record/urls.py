"""Portal URLs of the patient record itself (included into the ``patients`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new", views.patient_create, name="create"),
    path("<uuid:public_id>/", views.patient_detail, name="detail"),
    path("<uuid:public_id>/edit", views.patient_edit, name="edit"),
    path("<uuid:public_id>/status", views.patient_status, name="status"),
    path("<uuid:public_id>/notes", views.patient_note, name="note"),
    path("physicians/", views.physician_list, name="physicians"),
    path("physicians/lookup", views.physician_lookup, name="physician_lookup"),
    path("locations/lookup", views.location_lookup, name="location_lookup"),
    path("technicians/lookup", views.technician_lookup, name="technician_lookup"),
    path("physicians/new", views.physician_create, name="physician_create"),
    path("physicians/<uuid:public_id>/", views.physician_edit, name="physician_edit"),
]

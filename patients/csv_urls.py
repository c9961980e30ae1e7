"""URLs of the patient CSV import and export (included by ``patients.urls``)."""

from django.urls import path

from . import csv_views

urlpatterns = [
    path("csv/import", csv_views.import_upload, name="csv_import"),
    path("csv/import/confirm", csv_views.import_confirm, name="csv_import_confirm"),
    path("csv/status", csv_views.job_status, name="csv_status"),
    path("csv/export", csv_views.export, name="csv_export"),
]

"""URLs of the patient CSV import and export (included by ``patients.urls``)."""

from django.urls import path

from patients.bulk import views as csv_views

urlpatterns = [
    path("csv/import", csv_views.import_upload, name="csv_import"),
    path("csv/import/confirm", csv_views.import_confirm, name="csv_import_confirm"),
    path("csv/status", csv_views.job_status, name="csv_status"),
    path("csv/exports", csv_views.export_start, name="csv_export_start"),
    path("csv/exports/<uuid:public_id>", csv_views.export_progress, name="csv_export_progress"),
    path("csv/exports/<uuid:public_id>/status", csv_views.export_status, name="csv_export_status"),
    path(
        "csv/exports/<uuid:public_id>/download",
        csv_views.export_download,
        name="csv_export_download",
    ),
]

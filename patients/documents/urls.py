"""Portal URLs of patient documents (included into the ``patients`` namespace)."""

from django.urls import path

from patients.documents import views

urlpatterns = [
    path("<uuid:public_id>/documents", views.patient_documents, name="documents"),
    path("documents/search", views.document_search, name="document_search"),
    path(
        "documents/<uuid:public_id>/versions",
        views.document_version_upload,
        name="document_version_upload",
    ),
    path(
        "documents/<uuid:public_id>/entered-in-error",
        views.document_entered_in_error,
        name="document_entered_in_error",
    ),
    path(
        "documents/versions/<uuid:public_id>/download",
        views.document_version_download,
        name="document_download",
    ),
]

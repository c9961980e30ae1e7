"""Celery tasks of the patients app: ``app.autodiscover_tasks`` imports this module, which
imports each part's tasks so that the worker registers them."""

from patients.bulk.tasks import patients_csv_export, patients_csv_import
from patients.documents.tasks import document_extractions_resume_task, document_text_extract
from patients.referrals.tasks import authorizations_warn_expiring_task

__all__ = [
    "authorizations_warn_expiring_task",
    "document_extractions_resume_task",
    "document_text_extract",
    "patients_csv_export",
    "patients_csv_import",
]

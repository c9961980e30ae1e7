"""Celery tasks of the patients app (``app.autodiscover_tasks`` imports this module)."""

from patients.documents.tasks import document_text_extract

__all__ = ["document_text_extract"]
from patients.bulk.tasks import patients_csv_import  # noqa: F401
from patients.referrals.tasks import authorizations_warn_expiring_task  # noqa: F401

"""Celery tasks of patient documents. They take ids and call one service; safe to run twice."""

from __future__ import annotations

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from patients.documents.services import (
    TEXT_EXTRACT_TASK,
    document_extractions_resume,
    document_version_text_extract,
)

MAX_RETRIES = 3


@shared_task(bind=True, name=TEXT_EXTRACT_TASK, max_retries=MAX_RETRIES)
def document_text_extract(self: Task, version_id: int) -> str:
    """Extract and index the text of one PDF version (see ``document_version_text_extract``)."""
    try:
        return document_version_text_extract(version_id=version_id)
    except (OperationalError, InterfaceError, ConnectionError, TimeoutError) as exc:
        # The database or storage went away for a moment: try again a little later.
        raise self.retry(countdown=10 * (self.request.retries + 1), exc=exc) from exc


@shared_task(name="patients.document_extractions_resume", ignore_result=True)
def document_extractions_resume_task() -> int:
    """Celery beat, every 5 minutes: send again extractions left pending (broker outage)."""
    return document_extractions_resume()

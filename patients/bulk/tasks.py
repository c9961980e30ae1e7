"""Celery task of the patient CSV import: runs a checked file and records its progress."""

from __future__ import annotations

from celery import shared_task

from clinic.models import User
from patients.bulk.exports import EXPORT_TASK, patient_export_run
from patients.bulk.services import job_run_import, job_update


@shared_task(name="patients.csv_import")
def patients_csv_import(job_id: str, user_id: int) -> None:
    """Import the file checked under ``job_id`` as ``user_id`` (all or nothing)."""
    actor = User.objects.filter(pk=user_id, is_active=True).first()
    if actor is None:
        job_update(job_id, state="failed", message="Your account is no longer active.")
        return
    job_run_import(actor=actor, job_id=job_id)


@shared_task(name=EXPORT_TASK, ignore_result=True)
def patients_csv_export(export_id: int) -> str:
    """Write the CSV file of one background export (``patient_export_run``; safe twice)."""
    return patient_export_run(export_id=export_id)

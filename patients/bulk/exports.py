"""Background CSV exports of the patient list, for lists too long to stream in one request.

``patient_export_start`` records the request (the list's query string stays on the row, never
in the task's arguments or the audit row) and, after commit, hands the export id to Celery.
``patient_export_run`` (the task) writes the filtered list, as the person who asked sees it,
to a temporary file, records its progress every ``PROGRESS_EVERY`` rows for the page to poll,
then keeps the file in the default storage under a random name. The file is downloaded through
a signed, audited ``/files/`` link (``clinic.files.services``), only by the ADMIN who asked.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

from celery import current_app
from django.core.files import File
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from clinic.audit.services import audit_record
from clinic.errors import NotFound, PermissionDenied
from clinic.files.registry import file_access_register
from clinic.files.services import Kind, file_store
from clinic.models import User
from clinic.tenancy import scope_queryset
from patients.bulk.services import can_export_patients, patients_export_audit, patients_export_rows
from patients.models import ExportState, PatientExport
from patients.record.forms import FILTERS, patient_filter_form
from patients.record.selectors import patients_filtered, patients_visible_to

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1000
QUERY_MAX_CHARS = 2000
STORAGE_PREFIX = "exports"
# The Celery task that runs ``patient_export_run`` (``patients.bulk.tasks``); sent by name, as
# the task module imports this one.
EXPORT_TASK = "patients.csv_export"


def _filter_names(query: str) -> list[str]:
    data = QueryDict(query)
    return sorted(name for name in (*FILTERS, "sort") if data.get(name))


@transaction.atomic
def patient_export_start(*, actor: User, query: str) -> PatientExport:
    """Ask for an export of the patient list filtered by ``query`` (the list's query string)."""
    organization_id = actor.organization_id
    if organization_id is None or not can_export_patients(actor):
        raise PermissionDenied("Only an administrator can export patients.")
    query = (query or "")[:QUERY_MAX_CHARS]
    export = PatientExport.objects.create(
        organization_id=organization_id, requested_by=actor, query=query
    )
    audit_record(
        actor=actor,
        action="export.requested",
        obj=export,
        details={"kind": "patients", "filters": _filter_names(query)},
    )
    transaction.on_commit(lambda: patient_export_enqueue(export_id=export.pk))
    return export


def patient_export_enqueue(*, export_id: int) -> bool:
    """Hand the export to Celery; a broker outage is logged (ids only) and marks it failed,
    so the page says so instead of waiting forever."""
    try:
        current_app.send_task(EXPORT_TASK, args=(export_id,), retry=False)
    except Exception as exc:
        logger.warning("patients: could not enqueue export %s (%s)", export_id, type(exc).__name__)
        PatientExport.objects.filter(pk=export_id, state=ExportState.QUEUED).update(
            state=ExportState.FAILED,
            message="The export could not be started; try again in a minute.",
            finished_at=timezone.now(),
        )
        return False
    return True


def _claim(export_id: int) -> PatientExport | None:
    """Mark a queued export running and return it; None when another run has it or it is
    finished (a task delivered twice does the work once)."""
    with transaction.atomic():
        export = (
            PatientExport.objects.select_for_update(skip_locked=True)
            .select_related("requested_by")
            .filter(pk=export_id, state=ExportState.QUEUED)
            .first()
        )
        if export is None:
            return None
        export.state = ExportState.RUNNING
        export.save(update_fields=["state", "updated_at"])
    return export


def _fail(export: PatientExport, message: str) -> None:
    PatientExport.objects.filter(pk=export.pk).update(
        state=ExportState.FAILED, message=message, finished_at=timezone.now()
    )


def patient_export_run(*, export_id: int, progress_every: int = PROGRESS_EVERY) -> str:
    """Write the export's file (see the module docstring). Safe to run twice: only a queued
    export is run. Returns the export's state afterwards."""
    export = _claim(export_id)
    if export is None:
        state = PatientExport.objects.filter(pk=export_id).values_list("state", flat=True)
        return state.first() or "missing"
    actor = User.objects.filter(pk=export.requested_by_id, is_active=True).first()
    if actor is None or not can_export_patients(actor):
        _fail(export, "You may no longer export patients.")
        return ExportState.FAILED
    try:
        _, data = patient_filter_form(actor, QueryDict(export.query))
        qs = patients_filtered(patients_visible_to(actor), data, user=actor)
        total = qs.count()
        PatientExport.objects.filter(pk=export.pk).update(rows_total=total)
        done = 0
        with tempfile.TemporaryFile() as handle:
            for line_number, line in enumerate(patients_export_rows(qs)):
                handle.write(line.encode("utf-8"))
                if line_number == 0:
                    continue  # the header
                done += 1
                if done % progress_every == 0:
                    PatientExport.objects.filter(pk=export.pk).update(rows_done=min(done, total))
            stored = file_store(upload=File(handle), kind=Kind.CSV, prefix=STORAGE_PREFIX)
    except Exception:
        _fail(export, "The export failed; try again, or narrow the list.")
        raise
    with transaction.atomic():
        PatientExport.objects.filter(pk=export.pk).update(
            state=ExportState.DONE,
            rows_done=done,
            rows_total=max(total, done),
            storage_name=stored.name,
            size=stored.size,
            finished_at=timezone.now(),
        )
        patients_export_audit(actor=actor, filters=_filter_names(export.query), count=done)
    return ExportState.DONE


def patient_export_get(*, user: User, public_id: Any) -> PatientExport:
    """One of ``user``'s own exports (an ADMIN's only: nobody sees another's)."""
    try:
        return scope_queryset(PatientExport.objects.all(), user).get(
            public_id=public_id, requested_by=user
        )
    except (PatientExport.DoesNotExist, ValueError) as exc:
        raise NotFound("That export does not exist or is not yours.") from exc


def _export_for_download(user: User, public_id: str) -> PatientExport | None:
    if not can_export_patients(user):
        return None
    export = patient_export_get(user=user, public_id=public_id)
    return export if export.state == ExportState.DONE and export.storage_name else None


def register_file_access() -> None:
    """Called once from ``PatientsConfig.ready``: finished exports are downloaded through
    ``/files/``, checked again on every download."""
    file_access_register("patients.patientexport", check=_export_for_download)

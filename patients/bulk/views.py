"""Portal pages of the patient CSV import (check, confirm, progress) and export.

The import never writes on the first post: it shows every bad row, and only a fully valid
file gets a confirm button. Small files import inside the confirming request; large ones in a
Celery task whose progress the page polls (a passive path: polling does not keep a session
alive). The export is for ADMINs only: a Celery task writes the filtered list to storage
while the page polls its progress (passive too), then a signed, audited link serves the file.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.decorators import staff_required
from clinic.errors import ApplicationError, NotFound
from clinic.files.services import Kind, download_link
from clinic.web import actor
from patients.bulk import exports as csv_exports
from patients.bulk import services as csv_io
from patients.bulk.tasks import patients_csv_import
from patients.models import ExportState, PatientExport

# Files up to this many rows import inside the request; bigger ones go to Celery.
SYNC_ROWS = 500

import_page = staff_required(check=csv_io.can_import_patients)
export_page = staff_required(check=csv_io.can_export_patients)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV; first line: " + ", ".join(csv_io.REQUIRED_COLUMNS) + ".",
    )


@import_page
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {
        "form": form,
        "required": csv_io.REQUIRED_COLUMNS,
        "optional": csv_io.OPTIONAL_COLUMNS,
    }
    if request.method != "POST" or not form.is_valid():
        return render(request, "patients/csv/import.html", context, status=_status(form))
    upload = form.cleaned_data["file"]
    try:
        if upload.size > csv_io.MAX_BYTES:
            raise csv_io.CsvFileRefused(
                f"The file is too large: at most {csv_io.MAX_BYTES // (1024 * 1024)} MB."
            )
        text = csv_io.csv_decode(upload.read())
        check = csv_io.patients_import_check(actor=user, text=text)
    except ApplicationError as exc:
        form.add_error("file", exc.message)
        return render(request, "patients/csv/import.html", context, status=400)
    context["check"] = check
    if check.valid:
        context["job_id"] = csv_io.job_create(actor=user, kind="import", text=text)
        context["count"] = len(check.rows)
    return render(request, "patients/csv/import.html", context, status=200 if check.valid else 400)


def _status(form: forms.Form) -> int:
    return 400 if form.is_bound and form.errors else 200


@import_page
@require_POST
def import_confirm(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    job_id = request.POST.get("job", "")
    job = csv_io.job_get(actor=user, job_id=job_id)
    text = csv_io.job_text(job_id) if job else None
    if job is None or text is None or job.get("state") != "checked":
        messages.error(request, "That import has expired or already ran; upload the file again.")
        return redirect("patients:csv_import")
    rows = text.count("\n")
    if rows <= SYNC_ROWS:
        csv_io.job_run_import(actor=user, job_id=job_id)
        job = csv_io.job_get(actor=user, job_id=job_id) or {}
        if job.get("state") == "done":
            messages.success(request, f"{job['done']} patient(s) imported.")
            return redirect("patients:list")
        messages.error(request, job.get("message") or "The import failed; nothing was imported.")
        return redirect("patients:csv_import")
    csv_io.job_update(job_id, state="queued")
    patients_csv_import.delay(job_id, user.pk)
    return render(request, "patients/csv/progress.html", {"job_id": job_id, "job": job})


@staff_required
@require_GET
def job_status(request: HttpRequest) -> HttpResponse:
    """The state of one of the user's jobs: an HTML fragment for htmx, JSON otherwise."""
    job = csv_io.job_get(actor=actor(request), job_id=request.GET.get("job", ""))
    if job is None:
        raise NotFound("No such job.")
    body = {k: job.get(k) for k in ("kind", "state", "done", "total", "message")}
    if request.headers.get("HX-Request"):
        return render(
            request,
            "patients/csv/_status.html",
            {"job": body, "job_id": request.GET["job"]},
        )
    return JsonResponse(body)


# -- background export -----------------------------------------------------------------------


@export_page
@require_POST
def export_start(request: HttpRequest) -> HttpResponse:
    """Start a background export of the list as filtered (the list's query string)."""
    export = csv_exports.patient_export_start(
        actor=actor(request), query=request.POST.get("query", "")
    )
    return redirect("patients:csv_export_progress", public_id=export.public_id)


def _export_context(export: PatientExport) -> dict[str, Any]:
    return {"export": export, "percent": _percent(export)}


def _percent(export: PatientExport) -> int:
    if export.state == ExportState.DONE:
        return 100
    return int(100 * export.rows_done / export.rows_total) if export.rows_total else 0


@export_page
@require_GET
def export_progress(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    export = csv_exports.patient_export_get(user=actor(request), public_id=public_id)
    return render(request, "patients/csv/export_progress.html", _export_context(export))


@export_page
@require_GET
def export_status(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The export's progress: an HTML fragment for htmx polling, JSON otherwise."""
    export = csv_exports.patient_export_get(user=actor(request), public_id=public_id)
    if request.headers.get("HX-Request"):
        return render(request, "patients/csv/_export_status.html", _export_context(export))
    return JsonResponse(
        {
            "state": export.state,
            "done": export.rows_done,
            "total": export.rows_total,
            "message": export.message,
        }
    )


@export_page
@require_GET
def export_download(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """A fresh signed link to the finished file, then off to it (checked again and audited by
    ``/files/<token>``)."""
    user = actor(request)
    export = csv_exports.patient_export_get(user=user, public_id=public_id)
    if export.state != ExportState.DONE or not export.storage_name:
        raise NotFound("That export is not ready.")
    url = download_link(
        actor=user,
        obj=export,
        storage_name=export.storage_name,
        filename=export.download_filename(),
        kind=Kind.CSV,
    )
    response = redirect(url)
    response["Cache-Control"] = "no-store"
    return response

"""Portal pages of patient documents: a patient's documents (list, upload, new versions),
downloads through signed links, and full-text search across the documents a user may see.

Every page starts from the scoped selectors (``documents_selectors``): a patient or document
the user may not see is a 404, exactly like one that does not exist. Pages that show patient
data are audited; uploads and downloads are audited by the services and the file view.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access, audit_record
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.files.services import Kind, download_link
from clinic.models import User
from clinic.web import actor, form_apply_error
from patients.documents import services
from patients.documents.forms import DocumentSearchForm, DocumentUploadForm, DocumentVersionForm
from patients.documents.permissions import can_see_documents, can_use_documents
from patients.documents.selectors import (
    document_get_visible,
    document_version_get_visible,
    documents_of_patient,
    documents_search,
)
from patients.models import Document, Patient
from patients.record.selectors import patient_get_visible

documents_page_guard = staff_required(check=can_use_documents)

PAGE_SIZE = 25


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _patient(user: User, public_id: uuid.UUID) -> Patient:
    patient = patient_get_visible(user, public_id)
    if not can_see_documents(user, patient):
        raise Http404
    return patient


def _page(
    request: HttpRequest,
    patient: Patient,
    *,
    form: DocumentUploadForm | None = None,
    version_form: DocumentVersionForm | None = None,
    version_for: Document | None = None,
    status: int = 200,
) -> HttpResponse:
    user = actor(request)
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": "documents"})
    after = _uuid(request.GET.get("after"))
    documents = documents_of_patient(user, patient, after=after, limit=PAGE_SIZE + 1)
    has_next = len(documents) > PAGE_SIZE
    documents = documents[:PAGE_SIZE]
    context: dict[str, Any] = {
        "patient": patient,
        "tab": "documents",
        "full": True,
        "documents": documents,
        "has_next": has_next,
        "next_after": documents[-1].public_id if has_next else None,
        "is_first_page": after is None,
        "form": form or DocumentUploadForm(),
        "version_form": version_form,
        "version_for": version_for.pk if version_for else None,
        "tz": patient.home_location.timezone,
        "search_form": DocumentSearchForm(),
    }
    return render(request, "patients/documents/page.html", context, status=status)


@documents_page_guard
@require_http_methods(["GET", "POST"])
def patient_documents(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The patient's documents, and the upload of several files at once."""
    user = actor(request)
    patient = _patient(user, public_id)
    if request.method != "POST":
        return _page(request, patient)
    form = DocumentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            documents = services.document_upload(
                actor=user,
                patient=patient,
                files=form.cleaned_data["documents"],
                category=form.cleaned_data["category"],
                tags=form.cleaned_data["tags"],
                description=form.cleaned_data["description"],
            )
        except ApplicationError as exc:
            field = "documents" if exc.code.startswith("file_") or exc.code == "no_files" else None
            form.add_error(field, exc.message)
        else:
            count = len(documents)
            messages.success(
                request, "1 document uploaded." if count == 1 else f"{count} documents uploaded."
            )
            return redirect("patients:documents", public_id=patient.public_id)
    return _page(request, patient, form=form, status=400)


@documents_page_guard
@require_POST
def document_version_upload(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """A new file for a document; the earlier versions stay."""
    user = actor(request)
    document = document_get_visible(user, public_id)
    form = DocumentVersionForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            version = services.document_version_add(
                actor=user, document=document, file=form.cleaned_data["file"]
            )
        except ApplicationError as exc:
            form_apply_error(form, exc)
            if not form.errors:
                form.add_error("file", exc.message)
        else:
            messages.success(request, f"Version {version.number} uploaded.")
            return redirect("patients:documents", public_id=document.patient.public_id)
    return _page(request, document.patient, version_form=form, version_for=document, status=400)


@documents_page_guard
@require_POST
def document_entered_in_error(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Take a document uploaded by mistake out of use (kept, never deleted)."""
    user = actor(request)
    document = document_get_visible(user, public_id)
    services.document_mark_entered_in_error(actor=user, document=document)
    messages.success(request, "Document marked as entered in error.")
    return redirect("patients:documents", public_id=document.patient.public_id)


@documents_page_guard
@require_GET
def document_version_download(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """A fresh signed link for one version, then off to it: the page never holds links that
    could expire while it is open. The download itself is checked again and audited by
    ``/files/<token>``."""
    user = actor(request)
    version = document_version_get_visible(user, public_id)
    url = download_link(
        actor=user,
        obj=version,
        storage_name=version.storage_name,
        filename=version.download_filename(),
        kind=Kind(version.kind),
    )
    response = redirect(url)
    response["Cache-Control"] = "no-store"
    return response


@documents_page_guard
@require_GET
def document_search(request: HttpRequest) -> HttpResponse:
    """Full-text search inside the documents the user may see, best matches first."""
    user = actor(request)
    form = DocumentSearchForm(request.GET)
    text = form.cleaned_data["q"].strip() if form.is_valid() else ""
    results = list(documents_search(user, text)) if text else []
    if text:
        # The results name patients: keep a trace, by count only (the words may be PHI).
        audit_record(actor=user, action="document.searched", details={"results": len(results)})
    return render(
        request,
        "patients/documents/search.html",
        {"search_form": form, "q": text, "results": results, "searched": bool(text)},
    )

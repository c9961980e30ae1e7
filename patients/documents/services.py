"""Writes of patient documents: upload (several files at once), new versions, text extraction.

Every file is judged by its content (``clinic.files.services.file_validate``) before anything is
written, so one refused file refuses the whole upload. Rows and their audit entries are written
in one transaction; text extraction of PDFs runs afterwards in Celery
(``patients.documents.tasks.document_text_extract``), enqueued only once the rows are committed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from celery import current_app
from django.contrib.postgres.search import SearchVector
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import TextField, Value
from django.utils import timezone
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError, NotFound
from clinic.files.registry import file_access_register
from clinic.files.services import Kind, StoredFile, file_store, file_validate
from patients.clinical.permissions import can_edit_insurance
from patients.documents.permissions import can_upload_documents
from patients.documents.selectors import document_version_get_visible
from patients.models import (
    CARD_CATEGORIES,
    MAX_TAGS,
    TAG_MAX_LENGTH,
    Document,
    DocumentCategory,
    DocumentVersion,
    ExtractionStatus,
    InsurancePolicy,
)

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient

logger = logging.getLogger(__name__)

MAX_FILES_PER_UPLOAD = 20
DESCRIPTION_MAX_LENGTH = 500
STORAGE_PREFIX = "documents"
# The Celery task that runs ``document_version_text_extract`` (``patients.documents.tasks``);
# sent by name, as the task module imports this one.
TEXT_EXTRACT_TASK = "patients.document_text_extract"
# PostgreSQL refuses a tsvector over 1 MB; the start of a long document is what people search.
SEARCH_TEXT_MAX_CHARS = 300_000
EXTRACT_MAX_PAGES = 500


class DocumentRefused(ApplicationError):
    code = "document_refused"


# -- input -----------------------------------------------------------------------------------


def document_tags_clean(tags: Sequence[str]) -> list[str]:
    """Trimmed, lower-case, single-spaced, without repeats; refused when too many or too long."""
    clean: list[str] = []
    for raw in tags:
        tag = re.sub(r"\s+", " ", str(raw)).strip().lower()
        if not tag or tag in clean:
            continue
        if len(tag) > TAG_MAX_LENGTH:
            raise DocumentRefused(
                f"A tag can be at most {TAG_MAX_LENGTH} characters long.", code="tag_too_long"
            )
        clean.append(tag)
    if len(clean) > MAX_TAGS:
        raise DocumentRefused(f"Use at most {MAX_TAGS} tags.", code="too_many_tags")
    return clean


def _clean_metadata(category: str, tags: Sequence[str], description: str) -> tuple[list[str], str]:
    if category not in DocumentCategory.values:
        raise DocumentRefused("Choose a category from the list.", code="category_unknown")
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise DocumentRefused(
            f"The description can be at most {DESCRIPTION_MAX_LENGTH} characters long.",
            code="description_too_long",
        )
    return document_tags_clean(tags), description


def _validate_all(files: Sequence[File]) -> list[Kind]:
    """The kind of every file, or a refusal naming the first bad file by its position (never by
    its name, which may hold a patient's name)."""
    if not files:
        raise DocumentRefused("Choose at least one file to upload.", code="no_files")
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise DocumentRefused(
            f"Upload at most {MAX_FILES_PER_UPLOAD} files at a time.", code="too_many_files"
        )
    kinds: list[Kind] = []
    for position, upload in enumerate(files, start=1):
        try:
            kinds.append(file_validate(upload))
        except ApplicationError as exc:
            which = f"File {position} of {len(files)}" if len(files) > 1 else "The file"
            raise DocumentRefused(
                f"{which} was refused, so nothing was uploaded. {exc.message}",
                code=exc.code,
                extra={"position": position},
            ) from exc
    return kinds


# -- writes ----------------------------------------------------------------------------------


def _version_create(
    *, actor: User, document: Document, number: int, stored: StoredFile
) -> DocumentVersion:
    is_pdf = stored.kind == Kind.PDF
    return DocumentVersion.objects.create(
        document=document,
        number=number,
        storage_name=stored.name,
        size=stored.size,
        sha256=stored.sha256,
        kind=stored.kind.value,
        content_type=stored.content_type,
        uploaded_by=actor,
        extraction_status=ExtractionStatus.PENDING if is_pdf else ExtractionStatus.NOT_APPLICABLE,
    )


def _extract_after_commit(versions: Sequence[DocumentVersion]) -> None:
    ids = [v.pk for v in versions if v.extraction_status == ExtractionStatus.PENDING]
    if ids:
        transaction.on_commit(lambda: document_text_extract_enqueue(version_ids=ids))


@transaction.atomic
def document_upload(
    *,
    actor: User,
    patient: Patient,
    files: Sequence[File],
    category: str,
    tags: Sequence[str] = (),
    description: str = "",
    insurance_policy: InsurancePolicy | None = None,
) -> list[Document]:
    """One document per file, all with the same category, tags and description. Every file is
    checked first; if one is refused, nothing is stored and nothing is written.
    ``insurance_policy``: the files are that policy's card (category front or back)."""
    if not can_upload_documents(actor, patient):
        raise NotFound("That patient does not exist or is not available to you.")
    clean_tags, description = _clean_metadata(category, tags, description)
    if insurance_policy is not None and (
        insurance_policy.patient_id != patient.pk or category not in CARD_CATEGORIES
    ):
        raise DocumentRefused("Only an insurance card can belong to a policy.", code="not_a_card")
    kinds = _validate_all(files)

    documents: list[Document] = []
    versions: list[DocumentVersion] = []
    for upload, kind in zip(files, kinds, strict=True):
        stored = file_store(upload=upload, kind=kind, prefix=STORAGE_PREFIX)
        document = Document.objects.create(
            organization_id=patient.organization_id,
            patient=patient,
            category=category,
            tags=clean_tags,
            description=description,
            insurance_policy=insurance_policy,
            created_by=actor,
        )
        version = _version_create(actor=actor, document=document, number=1, stored=stored)
        document.current_version = version
        document.save(update_fields=["current_version", "updated_at"])
        audit_record(
            actor=actor,
            action="document.uploaded",
            obj=document,
            location=patient.home_location,
            details={
                "patient": str(patient.public_id),
                "version": 1,
                "kind": kind.value,
                "category": category,
                **({"policy": str(insurance_policy.public_id)} if insurance_policy else {}),
            },
        )
        documents.append(document)
        versions.append(version)
    _extract_after_commit(versions)
    return documents


@transaction.atomic
def document_version_add(*, actor: User, document: Document, file: File) -> DocumentVersion:
    """A new file for ``document``; the earlier versions are kept and stay downloadable."""
    # Locked so two uploads at once get numbers 2 and 3, not 2 twice (the unique constraint
    # would refuse the second anyway).
    document = (
        Document.objects.select_for_update()
        .select_related("patient", "patient__home_location")
        .get(pk=document.pk)
    )
    if document.entered_in_error or not can_upload_documents(actor, document.patient):
        raise NotFound("That document does not exist or is not available to you.")
    kind = _validate_all([file])[0]
    stored = file_store(upload=file, kind=kind, prefix=STORAGE_PREFIX)
    last = document.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = _version_create(actor=actor, document=document, number=last + 1, stored=stored)
    document.current_version = version
    document.save(update_fields=["current_version", "updated_at"])
    audit_record(
        actor=actor,
        action="document.version_added",
        obj=document,
        location=document.patient.home_location,
        details={
            "patient": str(document.patient.public_id),
            "version": version.number,
            "kind": kind.value,
        },
    )
    _extract_after_commit([version])
    return version


CARD_SIDES = {
    "front": DocumentCategory.INSURANCE_CARD_FRONT,
    "back": DocumentCategory.INSURANCE_CARD_BACK,
}


@transaction.atomic
def insurance_cards_upload(
    *, actor: User, policy: InsurancePolicy, files: dict[str, File]
) -> list[Document]:
    """Photos or scans of a policy's insurance card, by side ("front", "back"): documents of
    the patient linked to the policy. A side that already has a card gets a new version (the
    earlier photo is kept). Both files are checked before anything is written."""
    policy = (
        InsurancePolicy.objects.select_for_update(of=("self",))
        .select_related("patient", "patient__home_location")
        .get(pk=policy.pk)
    )
    patient = policy.patient
    if not can_edit_insurance(actor, patient):
        raise NotFound("That policy does not exist or is not available to you.")
    if not policy.is_active:
        raise DocumentRefused("This policy is inactive; add the card to the current policy.")
    chosen = [(side, upload) for side, upload in files.items() if upload]
    if any(side not in CARD_SIDES for side, _ in chosen):
        raise DocumentRefused("A card has a front and a back.", code="card_side_unknown")
    _validate_all([upload for _, upload in chosen])
    current = {
        d.category: d
        for d in Document.objects.filter(insurance_policy=policy, entered_in_error=False).order_by(
            "id"
        )
    }
    documents: list[Document] = []
    for side, upload in chosen:
        category = CARD_SIDES[side]
        if category in current:
            document_version_add(actor=actor, document=current[category], file=upload)
            documents.append(current[category])
        else:
            documents += document_upload(
                actor=actor,
                patient=patient,
                files=[upload],
                category=category,
                insurance_policy=policy,
            )
    return documents


@transaction.atomic
def document_mark_entered_in_error(*, actor: User, document: Document) -> Document:
    """Take a document uploaded by mistake (wrong patient, wrong file) out of use. Nothing is
    deleted: the row and its files stay for the record, but it leaves the list, the search and
    downloads. Marking it twice changes nothing more."""
    document = (
        Document.objects.select_for_update()
        .select_related("patient", "patient__home_location")
        .get(pk=document.pk)
    )
    if not can_upload_documents(actor, document.patient):
        raise NotFound("That document does not exist or is not available to you.")
    if document.entered_in_error:
        return document
    document.entered_in_error = True
    document.save(update_fields=["entered_in_error", "updated_at"])
    audit_record(
        actor=actor,
        action="document.entered_in_error",
        obj=document,
        location=document.patient.home_location,
        details={"patient": str(document.patient.public_id)},
    )
    return document


# -- text extraction -------------------------------------------------------------------------


def document_text_extract_enqueue(*, version_ids: Sequence[int]) -> int:
    """Hand extraction to Celery. A broker outage is logged (ids only) and swallowed: the
    upload itself has succeeded, and the versions stay ``pending`` until
    ``document_extractions_resume`` sends them again. Returns how many were sent."""
    sent = 0
    for version_id in version_ids:
        try:
            current_app.send_task(TEXT_EXTRACT_TASK, args=(version_id,), retry=False)
        except Exception as exc:
            logger.warning(
                "documents: could not enqueue text extraction of version %s (%s)",
                version_id,
                type(exc).__name__,
            )
        else:
            sent += 1
    return sent


# A pending version younger than this probably has its task on the way.
RESUME_AFTER = timedelta(minutes=5)
RESUME_BATCH = 500


def document_extractions_resume(
    *, after: timedelta = RESUME_AFTER, limit: int = RESUME_BATCH
) -> int:
    """Send again the text extraction of PDF versions still ``pending`` ``after`` their upload
    (the broker was down at commit, or a worker died mid-task), oldest first. Extraction
    writes the same result however often it runs, so a version sent twice (two sweeps, or a
    sweep and the original task) is only read twice. Returns how many were sent."""
    cutoff = timezone.now() - after
    ids = list(
        DocumentVersion.objects.filter(
            extraction_status=ExtractionStatus.PENDING, created_at__lt=cutoff
        )
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    return document_text_extract_enqueue(version_ids=ids) if ids else 0


# What pypdf raises on malformed files besides its own errors; a missing file is final too.
_UNREADABLE = (
    PyPdfError,
    FileNotFoundError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    RecursionError,
)


def _pdf_text(storage_name: str) -> str:
    with storages["default"].open(storage_name, "rb") as handle:
        reader = PdfReader(handle)
        if reader.is_encrypted:
            # Many scanners "protect" PDFs with an empty user password; anything else we
            # cannot read.
            reader.decrypt("")
        parts: list[str] = []
        for page in reader.pages[:EXTRACT_MAX_PAGES]:
            parts.append(page.extract_text() or "")
    # PostgreSQL text cannot hold NUL characters.
    return "\n".join(parts).replace("\x00", " ").strip()


def document_version_text_extract(*, version_id: int) -> str:
    """Read the text inside one PDF version and index it for search. Running it twice writes
    the same result again. Returns the extraction status."""
    version = DocumentVersion.objects.filter(pk=version_id).first()
    if version is None:
        return "missing"
    if version.kind != Kind.PDF:
        DocumentVersion.objects.filter(pk=version_id).update(
            extraction_status=ExtractionStatus.NOT_APPLICABLE
        )
        return ExtractionStatus.NOT_APPLICABLE
    try:
        text = _pdf_text(version.storage_name)
    except _UNREADABLE as exc:
        # A broken or locked PDF: the file itself is kept and downloadable, it is only not
        # searchable. Never log the content.
        return _extraction_failed(version_id, exc)
    DocumentVersion.objects.filter(pk=version_id).update(
        text=text,
        search_vector=SearchVector(
            Value(text[:SEARCH_TEXT_MAX_CHARS], output_field=TextField()), config="english"
        ),
        extraction_status=ExtractionStatus.DONE,
    )
    return ExtractionStatus.DONE


def _extraction_failed(version_id: int, exc: Exception) -> str:
    logger.warning(
        "documents: text extraction of version %s failed (%s)", version_id, type(exc).__name__
    )
    DocumentVersion.objects.filter(pk=version_id).update(
        text="", search_vector=None, extraction_status=ExtractionStatus.FAILED
    )
    return ExtractionStatus.FAILED


# -- downloads -------------------------------------------------------------------------------


def _version_for_download(user: User, public_id: str) -> DocumentVersion:
    return document_version_get_visible(user, public_id)


def register_file_access() -> None:
    """Called once from ``PatientsConfig.ready``: downloads of document versions are checked
    again, on every download, against who may see the patient's documents now."""
    file_access_register("patients.documentversion", check=_version_for_download)

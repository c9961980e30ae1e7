"""Documents in a real browser: drop two files on the upload form, upload, let the real Celery
worker read the PDF, find the patient by a word inside it, download it through a signed link,
and find both actions in the audit log. A real ASGI server, Celery worker and Chromium."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.conftest import celery_queue, celery_worker, wait_until  # noqa: F401
from patients.documents.tests.factories import PNG_BYTES, pdf_bytes
from patients.models import DocumentVersion, ExtractionStatus
from patients.tests.factories import PatientFactory
from tests.browser.fixtures import signed_in_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 20000  # only keeps a broken test from hanging


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(browser, live_asgi, make_staff, location):
    user = make_staff(role=Role.EMPLOYEE, location=location)
    context = signed_in_context(
        browser, live_asgi, user, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.user = user
    page.base = live_asgi
    yield page
    context.close()
    assert errors == []


def _drop(page, files: list[tuple[str, str, bytes]]) -> None:
    """Drop ``files`` (name, type, bytes) on the upload form as a person dragging them would."""
    payload = [(n, t, base64.b64encode(b).decode()) for n, t, b in files]
    transfer = page.evaluate_handle(
        """(files) => {
          const dt = new DataTransfer();
          for (const [name, type, b64] of files) {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], name, { type }));
          }
          return dt;
        }""",
        payload,
    )
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": transfer})


def test_upload_by_drop_find_by_a_word_inside_the_pdf_and_download_audited(
    page,
    location,
    celery_worker,  # noqa: F811
):
    patient = PatientFactory(home_location=location, first_name="Wilma", last_name="Dropstone")
    pdf = pdf_bytes("Overnight oximetry quokka summary")
    page.goto(page.base + reverse("patients:detail", kwargs={"public_id": patient.public_id}))
    page.click("nav.tabs >> text=Documents")
    page.wait_for_selector("[data-dropzone].is-enhanced", timeout=WAIT_MS)

    _drop(page, [("wilma-dropstone-oximetry.pdf", "application/pdf", pdf)])
    _drop(page, [("card.png", "image/png", PNG_BYTES)])
    assert page.inner_text("[data-dropzone-chosen]") == "2 files chosen."
    page.select_option("#id_category", "diagnostic_study_report")
    page.fill("#id_tags", "oximetry, night")
    page.click("form[data-document-upload] button[type=submit]")
    page.wait_for_selector("text=2 documents uploaded.", timeout=WAIT_MS)
    assert page.locator("li.document").count() == 2

    # The real worker reads the PDF after the upload committed.
    wait_until(
        lambda: DocumentVersion.objects.filter(
            kind="pdf", extraction_status=ExtractionStatus.DONE
        ).exists()
    )
    page.fill("#documents-q", "quokka")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_selector("text=1 document found", timeout=WAIT_MS)
    assert "Dropstone, Wilma" in page.inner_text("table")

    with page.expect_download(timeout=WAIT_MS) as caught:
        page.click("table >> text=Download")
    download = caught.value
    version = DocumentVersion.objects.get(kind="pdf")
    assert download.suggested_filename == f"document-{version.public_id}.pdf"
    with open(download.path(), "rb") as handle:
        assert handle.read() == pdf

    actions = set(AuditEvent.objects.filter(actor=page.user).values_list("action", flat=True))
    assert {"document.uploaded", "document.searched", "documentversion.downloaded"} <= actions
    # The original filename, which held the patient's name, was kept nowhere.
    assert not AuditEvent.objects.filter(details__icontains="dropstone").exists()
    assert "dropstone" not in version.storage_name

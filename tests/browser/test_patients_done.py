"""The patients issue's "done means", end to end in a real browser: a staff member registers a
patient through the form, uploads a PDF on the documents tab, finds the patient by a word inside
that PDF, downloads it through a signed link; then an ADMIN opens the activity log and sees both
the upload and the download. A real ASGI server, PostgreSQL, Redis, Celery worker and Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.conftest import celery_queue, celery_worker, wait_until  # noqa: F401
from patients.documents.tests.factories import pdf_bytes
from patients.models import DocumentVersion, ExtractionStatus, Patient
from tests.browser.fixtures import signed_in_context

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 20000  # only keeps a broken test from hanging


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _signed_in_page(browser: Any, base: str, user: Any, **options: Any) -> Any:
    """A browser tab whose session signed in with password and TOTP as ``user`` (``options``:
    Playwright's context options, a desktop window by default)."""
    options = {"viewport": {"width": 1280, "height": 900}, "accept_downloads": True, **options}
    context = signed_in_context(browser, base, user, **options)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def test_register_upload_find_by_pdf_word_download_and_admin_sees_both_in_activity_log(
    browser,
    live_asgi,
    celery_worker,  # noqa: F811
    make_staff,
    location,
):
    staff = make_staff(role=Role.EMPLOYEE, location=location, full_name="Sam Staffer")
    admin = make_staff(role=Role.ADMIN, location=location, full_name="Ada Admin")
    page = _signed_in_page(browser, live_asgi, staff)

    # 1. Register a patient through the form.
    page.goto(live_asgi + reverse("patients:create"))
    page.select_option("#id_home_location", str(location.public_id))
    page.fill("#id_first_name", "Harriet")
    page.fill("#id_last_name", "Quillfeather")
    page.fill("#id_date_of_birth", "1958-03-14")
    page.fill("#id_phone_mobile", "(201) 555-0147")
    page.click("form button[type=submit].primary")
    page.wait_for_selector("text=Harriet Quillfeather is registered.", timeout=WAIT_MS)
    patient = Patient.objects.get(last_name="Quillfeather")
    assert page.url.endswith(reverse("patients:detail", kwargs={"public_id": patient.public_id}))

    # 2. Upload a PDF on the documents tab (through the file chooser).
    page.click("nav.tabs >> text=Documents")
    pdf = pdf_bytes("Sleep study shows narwhal pattern apnea")
    page.set_input_files(
        "#id_documents",
        files=[{"name": "quillfeather-study.pdf", "mimeType": "application/pdf", "buffer": pdf}],
    )
    page.select_option("#id_category", "diagnostic_study_report")
    page.click("form[data-document-upload] button[type=submit]")
    page.wait_for_selector("text=1 document uploaded.", timeout=WAIT_MS)
    version = DocumentVersion.objects.get(document__patient=patient)

    # The real worker reads the PDF after the upload committed.
    wait_until(
        lambda: DocumentVersion.objects.filter(
            pk=version.pk, extraction_status=ExtractionStatus.DONE
        ).exists()
    )

    # 3. Find the patient by a word that is only inside the PDF.
    page.fill("#documents-q", "narwhal")
    page.click("form.documents-search button[type=submit]")
    page.wait_for_selector("text=1 document found", timeout=WAIT_MS)
    results = page.inner_text("table")
    assert "Quillfeather, Harriet" in results

    # 4. Download it through the signed link.
    with page.expect_download(timeout=WAIT_MS) as caught:
        page.click("table >> text=Download")
    download = caught.value
    assert download.suggested_filename == f"document-{version.public_id}.pdf"
    assert "/files/" in download.url  # the short-lived signed link, not a storage path
    with open(download.path(), "rb") as handle:
        assert handle.read() == pdf
    assert page.errors == []
    page.context.close()

    # 5. An ADMIN opens the activity log and sees both actions by the staff member.
    admin_page = _signed_in_page(browser, live_asgi, admin)
    admin_page.goto(live_asgi + reverse("clinic:activity"))
    admin_page.wait_for_selector("table.activity-table", timeout=WAIT_MS)
    rows = [
        admin_page.locator("table.activity-table tbody tr").nth(i).inner_text()
        for i in range(admin_page.locator("table.activity-table tbody tr").count())
    ]
    uploaded = [r for r in rows if "document.uploaded" in r]
    downloaded = [r for r in rows if "documentversion.downloaded" in r]
    assert len(uploaded) == 1 and "Sam Staffer" in uploaded[0]
    assert len(downloaded) == 1 and "Sam Staffer" in downloaded[0]
    assert str(version.public_id) in downloaded[0]
    # Newest first: the download came after the upload.
    assert rows.index(downloaded[0]) < rows.index(uploaded[0])
    # The log holds ids, never what was in the file or the patient's name.
    assert "Quillfeather" not in admin_page.content()
    assert not AuditEvent.objects.filter(details__icontains="narwhal").exists()
    assert admin_page.errors == []
    admin_page.context.close()

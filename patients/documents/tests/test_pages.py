"""The documents pages: list and upload, new versions, signed downloads, search, who may see."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory
from patients.documents.services import document_upload, document_version_text_extract
from patients.documents.tests.factories import (
    html_upload,
    pdf_bytes,
    pdf_upload,
    png_upload,
    zip_upload,
)
from patients.models import Document, DocumentVersion
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

SEARCH = reverse("patients:document_search")


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def client(employee, signed_in):
    return signed_in(employee)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location, last_name="Documented")


def page(p) -> str:
    return reverse("patients:documents", kwargs={"public_id": p.public_id})


def download(v) -> str:
    return reverse("patients:document_download", kwargs={"public_id": v.public_id})


def post_upload(client, p, files, **fields):
    data = {
        "documents": files,
        "category": fields.pop("category", "referral"),
        "tags": fields.pop("tags", ""),
        "description": fields.pop("description", ""),
    }
    return client.post(page(p), data)


def test_page_lists_documents_with_versions_and_is_linked_from_the_dashboard(
    client, employee, patient
):
    document_upload(
        actor=employee, patient=patient, files=[pdf_upload()], category="lab_report", tags=["cpap"]
    )
    response = client.get(page(patient))
    assert response.status_code == 200
    assert b"Lab report" in response.content and b"cpap" in response.content
    assert b"multiple" in response.content and b'capture="environment"' in response.content
    dashboard = client.get(reverse("patients:detail", kwargs={"public_id": patient.public_id}))
    assert page(patient).encode() in dashboard.content
    assert AuditEvent.objects.filter(
        action="patient.viewed", object_id=str(patient.public_id), details__tab="documents"
    ).exists()


def test_uploading_several_files_from_the_form(client, patient):
    response = post_upload(
        client, patient, [pdf_upload("One"), png_upload()], tags="sleep, cpap", description="Lab"
    )
    assert response.status_code == 302
    docs = Document.objects.filter(patient=patient)
    assert docs.count() == 2 and all(d.tags == ["sleep", "cpap"] for d in docs)
    follow = client.get(page(patient))
    assert b"2 documents uploaded." in follow.content


@pytest.mark.parametrize("bad", [zip_upload, html_upload])
def test_a_refused_file_refuses_the_upload_with_a_clear_message(client, patient, bad):
    response = post_upload(client, patient, [pdf_upload(), bad()])
    assert response.status_code == 400
    assert b"File 2 of 2 was refused, so nothing was uploaded." in response.content
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()


def test_missing_files_and_category_are_explained(client, patient):
    response = client.post(page(patient), {"category": ""})
    assert response.status_code == 400
    assert b"Choose at least one file to upload." in response.content
    assert b"Choose a category." in response.content
    assert not Document.objects.exists()


def test_new_version_keeps_the_old_one_and_both_download(client, employee, patient):
    (doc,) = document_upload(
        actor=employee, patient=patient, files=[pdf_upload()], category="claim"
    )
    url = reverse("patients:document_version_upload", kwargs={"public_id": doc.public_id})
    assert client.post(url, {"file": png_upload()}).status_code == 302
    doc.refresh_from_db()
    assert doc.current_version.number == 2 and doc.versions.count() == 2
    for version in doc.versions.all():
        assert client.get(download(version)).status_code == 302


def test_refused_new_version_shows_the_reason_and_changes_nothing(client, employee, patient):
    (doc,) = document_upload(
        actor=employee, patient=patient, files=[pdf_upload()], category="claim"
    )
    url = reverse("patients:document_version_upload", kwargs={"public_id": doc.public_id})
    response = client.post(url, {"file": zip_upload()})
    assert response.status_code == 400 and b"ZIP archive" in response.content
    assert doc.versions.count() == 1


def test_download_goes_through_a_signed_link_and_is_audited(client, employee, patient):
    (doc,) = document_upload(
        actor=employee, patient=patient, files=[pdf_upload("Signed")], category="general"
    )
    version = doc.current_version
    redirect = client.get(download(version))
    assert redirect.status_code == 302 and redirect["Location"].startswith("/files/")
    response = client.get(redirect["Location"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf_bytes("Signed")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert f"document-{version.public_id}.pdf" in response["Content-Disposition"]
    audit = AuditEvent.objects.get(action="documentversion.downloaded")
    assert audit.object_id == str(version.public_id) and audit.actor == employee
    assert audit.organization_id == patient.organization_id


def test_search_finds_a_pdf_by_a_word_inside_it_only_among_visible_documents(
    client, employee, patient, make_staff, location
):
    (doc,) = document_upload(
        actor=employee,
        patient=patient,
        files=[pdf_upload("Titration zygomatic")],
        category="general",
    )
    document_version_text_extract(version_id=doc.current_version.pk)
    others = [
        PatientFactory(home_location=LocationFactory(organization=location.organization)),
        PatientFactory(),
    ]
    for other in others:
        uploader = make_staff(Role.EMPLOYEE, other.home_location)
        (d,) = document_upload(
            actor=uploader, patient=other, files=[pdf_upload("Zygomatic")], category="general"
        )
        document_version_text_extract(version_id=d.current_version.pk)

    response = client.get(SEARCH, {"q": "zygomatic"})
    assert response.status_code == 200
    assert [v.pk for v in response.context["results"]] == [doc.current_version.pk]
    assert b"Documented" in response.content
    for other in others:
        assert other.last_name.encode() not in response.content
    assert AuditEvent.objects.filter(action="document.searched", details__results=1).exists()


def test_an_empty_search_shows_the_form_only(client):
    response = client.get(SEARCH, {"q": "  "})
    assert response.status_code == 200 and response.context["results"] == []


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_technician_and_support_get_404_everywhere(
    signed_in, make_staff, location, employee, patient, role
):
    from patients.models import PatientAssignment

    (doc,) = document_upload(
        actor=employee, patient=patient, files=[pdf_upload()], category="general"
    )
    user = make_staff(role, location)
    PatientAssignment.objects.create(patient=patient, technician=user)
    client = signed_in(user)
    version = doc.current_version
    url = reverse("patients:document_version_upload", kwargs={"public_id": doc.public_id})
    assert client.get(page(patient)).status_code == 404
    assert post_upload(client, patient, [pdf_upload()]).status_code == 404
    assert client.post(url, {"file": pdf_upload()}).status_code == 404
    assert client.get(download(version)).status_code == 404
    assert client.get(SEARCH, {"q": "hello"}).status_code == 404
    assert Document.objects.count() == 1 and DocumentVersion.objects.count() == 1
    assert not AuditEvent.objects.filter(actor=user).exists()


def test_employee_of_another_location_gets_404(signed_in, make_staff, employee, patient):
    (doc,) = document_upload(
        actor=employee, patient=patient, files=[pdf_upload()], category="general"
    )
    other = make_staff(Role.EMPLOYEE, LocationFactory(organization=patient.organization))
    client = signed_in(other)
    assert client.get(page(patient)).status_code == 404
    assert client.get(download(doc.current_version)).status_code == 404


def test_a_download_link_stops_working_when_access_is_withdrawn(client, employee, patient):
    (doc,) = document_upload(
        actor=employee, patient=patient, files=[pdf_upload()], category="general"
    )
    link = client.get(download(doc.current_version))["Location"]
    Document.objects.filter(pk=doc.pk).update(entered_in_error=True)
    assert client.get(link).status_code == 404
    assert not AuditEvent.objects.filter(action="documentversion.downloaded").exists()


def test_documents_page_runs_the_same_number_of_queries_for_2_or_12_documents(
    client, employee, patient
):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(page(patient)).status_code == 200
        return len(ctx.captured_queries)

    def add(n: int) -> None:
        for _ in range(n):
            (doc,) = document_upload(
                actor=employee, patient=patient, files=[pdf_upload()], category="general"
            )
            from patients.documents.services import document_version_add

            document_version_add(actor=employee, document=doc, file=png_upload())

    add(2)
    few = count()
    add(10)
    assert count() == few


def test_entered_in_error_takes_a_document_out_of_list_search_and_downloads(
    client, employee, patient
):
    (doc,) = document_upload(
        actor=employee, patient=patient, files=[pdf_upload("Mistaken walrus")], category="general"
    )
    document_version_text_extract(version_id=doc.current_version.pk)
    link = client.get(download(doc.current_version))["Location"]
    url = reverse("patients:document_entered_in_error", kwargs={"public_id": doc.public_id})

    assert client.post(url).status_code == 302
    doc.refresh_from_db()
    assert doc.entered_in_error and DocumentVersion.objects.filter(document=doc).exists()
    assert client.get(page(patient)).context["documents"] == []
    assert client.get(SEARCH, {"q": "walrus"}).context["results"] == []
    assert client.get(link).status_code == 404
    assert client.post(url).status_code == 404  # gone for good from the pages
    assert AuditEvent.objects.filter(action="document.entered_in_error").count() == 1


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_technician_and_support_cannot_mark_entered_in_error(
    signed_in, make_staff, location, employee, patient, role
):
    (doc,) = document_upload(
        actor=employee, patient=patient, files=[pdf_upload()], category="general"
    )
    client = signed_in(make_staff(role, location))
    url = reverse("patients:document_entered_in_error", kwargs={"public_id": doc.public_id})
    assert client.post(url).status_code == 404
    doc.refresh_from_db()
    assert not doc.entered_in_error
    assert not AuditEvent.objects.filter(action="document.entered_in_error").exists()


def test_search_page_runs_the_same_number_of_queries_for_2_or_12_hits(client, employee, patient):
    def add(n: int) -> None:
        for _ in range(n):
            (doc,) = document_upload(
                actor=employee, patient=patient, files=[pdf_upload("Pelican")], category="general"
            )
            document_version_text_extract(version_id=doc.current_version.pk)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(SEARCH, {"q": "pelican"}).status_code == 200
        return len(ctx.captured_queries)

    add(2)
    few = count()
    add(10)
    assert count() == few

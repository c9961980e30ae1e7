"""Document uploads, versions and text extraction, through the services."""

from __future__ import annotations

import pytest
from django.core.files.storage import storages

from clinic.errors import ApplicationError, NotFound
from clinic.models import AuditEvent, Role
from patients.documents.selectors import documents_search
from patients.documents.services import (
    document_upload,
    document_version_add,
    document_version_text_extract,
)
from patients.documents.tests.factories import (
    html_upload,
    pdf_bytes,
    pdf_upload,
    png_upload,
    zip_upload,
)
from patients.models import Document, DocumentVersion, ExtractionStatus
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


def upload(employee, patient, files, **kwargs):
    kwargs.setdefault("category", "lab_report")
    return document_upload(actor=employee, patient=patient, files=files, **kwargs)


def test_several_files_become_several_documents_with_metadata_and_audit(employee, patient):
    documents = upload(
        employee,
        patient,
        [pdf_upload("One"), png_upload()],
        tags=[" Sleep  Study", "sleep study", "CPAP"],
        description="From the lab",
    )
    assert len(documents) == 2
    pdf_doc, png_doc = (Document.objects.get(pk=d.pk) for d in documents)
    assert pdf_doc.tags == ["sleep study", "cpap"] and pdf_doc.category == "lab_report"
    pdf_version = pdf_doc.current_version
    assert pdf_version.number == 1 and pdf_version.kind == "pdf"
    assert pdf_version.size == len(pdf_bytes("One")) and len(pdf_version.sha256) == 64
    assert pdf_version.uploaded_by == employee
    assert pdf_version.extraction_status == ExtractionStatus.PENDING
    assert png_doc.current_version.kind == "png"
    assert png_doc.current_version.extraction_status == ExtractionStatus.NOT_APPLICABLE
    # Stored under a random name: nothing of the original filename reaches storage.
    assert "scan" not in pdf_version.storage_name and storages["default"].exists(
        pdf_version.storage_name
    )
    audits = AuditEvent.objects.filter(action="document.uploaded")
    assert {a.object_id for a in audits} == {str(d.public_id) for d in documents}
    assert all(a.location_id == patient.home_location_id for a in audits)
    assert all("scan" not in str(a.details) for a in audits)


@pytest.mark.parametrize(
    ("bad", "said"), [(zip_upload, "ZIP archive"), (html_upload, "web page (HTML)")]
)
def test_one_refused_file_refuses_the_whole_upload_and_writes_nothing(employee, patient, bad, said):
    with pytest.raises(ApplicationError) as caught:
        upload(employee, patient, [pdf_upload("Fine"), bad(), png_upload()])
    assert "File 2 of 3" in caught.value.message and said in caught.value.message
    assert "archive.pdf" not in caught.value.message and "letter.pdf" not in caught.value.message
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="document.").exists()


def test_unknown_category_and_too_long_tag_are_refused(employee, patient):
    with pytest.raises(ApplicationError, match="category"):
        upload(employee, patient, [pdf_upload()], category="recipe")
    with pytest.raises(ApplicationError, match="at most 40"):
        upload(employee, patient, [pdf_upload()], tags=["x" * 41])
    assert not Document.objects.exists()


def test_a_new_version_keeps_the_old_one(employee, patient):
    (document,) = upload(employee, patient, [pdf_upload("First")])
    first = document.current_version
    second = document_version_add(actor=employee, document=document, file=png_upload())
    document.refresh_from_db()
    assert second.number == 2 and document.current_version == second
    assert list(document.versions.values_list("number", flat=True)) == [2, 1]
    assert storages["default"].exists(first.storage_name)
    assert AuditEvent.objects.filter(action="document.version_added").count() == 1


def test_a_refused_new_version_changes_nothing(employee, patient):
    (document,) = upload(employee, patient, [pdf_upload("First")])
    with pytest.raises(ApplicationError, match="ZIP"):
        document_version_add(actor=employee, document=document, file=zip_upload())
    document.refresh_from_db()
    assert document.current_version.number == 1 and document.versions.count() == 1


@pytest.mark.parametrize("role", [Role.FIELD_TECHNICIAN, Role.SUPPORT])
def test_technician_and_support_cannot_upload(make_staff, location, patient, role):
    user = make_staff(role, location)
    with pytest.raises(NotFound):
        upload(user, patient, [pdf_upload()])
    assert not Document.objects.exists()


def test_employee_of_another_location_cannot_upload(make_staff, patient):
    from clinic.tests.factories import LocationFactory

    other = LocationFactory(organization=patient.organization)
    with pytest.raises(NotFound):
        upload(make_staff(Role.EMPLOYEE, other), patient, [pdf_upload()])
    assert not Document.objects.exists()


def test_extraction_is_enqueued_after_commit(employee, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        upload(employee, patient, [pdf_upload("Queued"), png_upload()])
    assert len(callbacks) == 1  # one callback for the one PDF; none before commit


def test_extraction_makes_a_pdf_findable_by_a_word_inside_it(employee, patient):
    (document,) = upload(employee, patient, [pdf_upload("Polysomnography quixotic results")])
    version = document.current_version
    assert not documents_search(employee, "quixotic").exists()

    assert document_version_text_extract(version_id=version.pk) == ExtractionStatus.DONE
    assert document_version_text_extract(version_id=version.pk) == ExtractionStatus.DONE  # twice

    version.refresh_from_db()
    assert "quixotic" in version.text and version.extraction_status == ExtractionStatus.DONE
    assert [v.pk for v in documents_search(employee, "quixotic")] == [version.pk]
    assert [v.pk for v in documents_search(employee, "polysomnography -absent")] == [version.pk]
    assert not documents_search(employee, "zebra").exists()


def test_a_broken_pdf_is_kept_but_marked_unreadable(employee, patient):
    from django.core.files.uploadedfile import SimpleUploadedFile

    broken = SimpleUploadedFile("x.pdf", b"%PDF-1.4\n garbage without structure")
    (document,) = upload(employee, patient, [broken])
    status = document_version_text_extract(version_id=document.current_version.pk)
    assert status == ExtractionStatus.FAILED
    assert storages["default"].exists(document.current_version.storage_name)


def test_search_is_scoped_to_the_documents_the_user_may_see(make_staff, location, employee):
    from clinic.tests.factories import LocationFactory

    mine = PatientFactory(home_location=location)
    sibling = PatientFactory(home_location=LocationFactory(organization=location.organization))
    foreign = PatientFactory()
    versions = {}
    for name, p in (("mine", mine), ("sibling", sibling), ("foreign", foreign)):
        uploader = make_staff(Role.EMPLOYEE, p.home_location)
        (doc,) = upload(uploader, p, [pdf_upload("Shared marmalade word")])
        document_version_text_extract(version_id=doc.current_version.pk)
        versions[name] = doc.current_version.pk

    assert [v.pk for v in documents_search(employee, "marmalade")] == [versions["mine"]]
    admin = make_staff(Role.ADMIN, location)
    assert {v.pk for v in documents_search(admin, "marmalade")} == {
        versions["mine"],
        versions["sibling"],
    }
    for role in (Role.FIELD_TECHNICIAN, Role.SUPPORT):
        assert not documents_search(make_staff(role, location), "marmalade").exists()

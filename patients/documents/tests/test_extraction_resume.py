"""The beat job that sends again document text extractions left pending (the broker was down
when the upload committed): with the real broker, a real Celery worker and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic.models import Role
from clinic.tests.conftest import queued_messages, wait_until
from patients.documents.selectors import documents_search
from patients.documents.services import document_extractions_resume, document_upload
from patients.documents.tests.factories import pdf_upload, png_upload
from patients.models import DocumentVersion, ExtractionStatus
from patients.tests.factories import PatientFactory

NOW = timedelta(0)


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


def status(version: DocumentVersion) -> str:
    return DocumentVersion.objects.values_list("extraction_status", flat=True).get(pk=version.pk)


@pytest.mark.django_db(transaction=True)
def test_extraction_left_pending_by_a_broker_outage_is_resumed_and_found(
    location, employee, celery_queue, unreachable_broker, start_celery_worker, caplog
):
    patient = PatientFactory(home_location=location)
    with unreachable_broker():
        [document] = document_upload(
            actor=employee, patient=patient, files=[pdf_upload("Nocturnal oximetry")],
            category="lab_report",
        )  # fmt: skip
        # The broker is still down at the first sweep: nothing is sent, nothing is lost.
        assert document_extractions_resume(after=NOW) == 0
    version = document.current_version
    assert status(version) == ExtractionStatus.PENDING
    assert "could not enqueue" in caplog.text
    assert queued_messages(celery_queue) == 0
    assert list(documents_search(employee, "oximetry")) == []

    with start_celery_worker():
        assert document_extractions_resume(after=NOW) == 1
        wait_until(lambda: status(version) == ExtractionStatus.DONE)
        assert document_extractions_resume(after=NOW) == 0  # nothing left to resume

    assert [v.pk for v in documents_search(employee, "oximetry")] == [version.pk]


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_sending_the_same_version_extract_it_to_the_same_result(
    location, employee, celery_queue, unreachable_broker, start_celery_worker
):
    patient = PatientFactory(home_location=location)
    with unreachable_broker():
        [document] = document_upload(
            actor=employee, patient=patient, files=[pdf_upload("Titration report")],
            category="lab_report",
        )  # fmt: skip
    # Two sweeps (e.g. two beat processes) before any worker runs: the version is sent twice.
    assert document_extractions_resume(after=NOW) == 1
    assert document_extractions_resume(after=NOW) == 1
    assert queued_messages(celery_queue) == 2

    with start_celery_worker():
        wait_until(lambda: queued_messages(celery_queue) == 0)
        wait_until(lambda: status(document.current_version) == ExtractionStatus.DONE)

    version = DocumentVersion.objects.get(pk=document.current_version.pk)
    assert "Titration report" in version.text
    assert [v.pk for v in documents_search(employee, "titration")] == [version.pk]


@pytest.mark.django_db
def test_the_sweep_leaves_fresh_uploads_and_finished_or_non_pdf_versions_alone(
    location, employee, django_capture_on_commit_callbacks
):
    patient = PatientFactory(home_location=location)
    with django_capture_on_commit_callbacks(execute=False):
        [fresh] = document_upload(
            actor=employee, patient=patient, files=[pdf_upload("Fresh")], category="general"
        )
        [photo] = document_upload(
            actor=employee, patient=patient, files=[png_upload()], category="general"
        )
    assert status(photo.current_version) == ExtractionStatus.NOT_APPLICABLE
    # Just uploaded: its own task is probably on the way.
    assert document_extractions_resume() == 0
    DocumentVersion.objects.filter(pk=fresh.current_version.pk).update(
        extraction_status=ExtractionStatus.DONE
    )
    assert document_extractions_resume(after=NOW) == 0


def test_beat_runs_the_resume_task_every_five_minutes():
    from config.celery import app
    from config.settings import base as settings  # the test settings switch beat off

    entry = settings.CELERY_BEAT_SCHEDULE["documents-extractions-resume"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 300.0

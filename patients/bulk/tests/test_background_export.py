"""Background CSV export of the patient list: an ADMIN starts it, a real Celery worker writes
the file to storage while the page polls its progress, and the file comes through a signed,
audited link; nobody else gets it, and the audit rows hold no patient data."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from clinic.auth.sessions import SESSION_LAST_SEEN
from clinic.auth.tests.test_sessions import move_back
from clinic.models import AuditEvent, Role
from clinic.tests.conftest import wait_until
from patients.bulk import exports as csv_exports
from patients.models import ExportState, PatientExport, PatientStatus
from patients.tests.factories import PatientFactory

START = reverse("patients:csv_export_start")


def progress_url(export) -> str:
    return reverse("patients:csv_export_progress", kwargs={"public_id": export.public_id})


def status_url(export) -> str:
    return reverse("patients:csv_export_status", kwargs={"public_id": export.public_id})


def download_url(export) -> str:
    return reverse("patients:csv_export_download", kwargs={"public_id": export.public_id})


@pytest.fixture
def admin(location, make_staff):
    return make_staff(Role.ADMIN, location, full_name="Ada Admin")


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def fetch(client, url: str) -> bytes:
    signed = client.get(url)
    assert signed.status_code == 302 and signed["Location"].startswith("/files/")
    served = client.get(signed["Location"])
    assert served.status_code == 200
    assert served["Content-Disposition"].startswith("attachment")
    assert served["X-Content-Type-Options"] == "nosniff"
    return b"".join(served.streaming_content)


@pytest.mark.django_db(transaction=True)
def test_admin_exports_the_filtered_list_in_the_background_and_downloads_it(
    admin, location, signed_in, celery_worker
):
    for i in range(7):
        PatientFactory(home_location=location, last_name=f"Active{i}", status=PatientStatus.ACTIVE)
    PatientFactory(home_location=location, last_name="Waiting")
    client = signed_in(admin)

    response = client.post(START, {"query": "status=ACTIVE&q=Active"})
    export = PatientExport.objects.get()
    assert response.status_code == 302 and response["Location"] == progress_url(export)
    page = client.get(progress_url(export))
    assert page.status_code == 200 and b"Exporting patients" in page.content

    wait_until(lambda: PatientExport.objects.get().state == ExportState.DONE)
    fragment = client.get(status_url(export), HTTP_HX_REQUEST="true")
    assert b"7 patients exported" in fragment.content
    assert b"hx-trigger" not in fragment.content  # polling stops when done
    assert download_url(export).encode() in fragment.content
    assert client.get(status_url(export)).json() == {
        "state": "done",
        "done": 7,
        "total": 7,
        "message": "",
    }

    rows = rows_of(fetch(client, download_url(export)))
    assert sorted(r["last_name"] for r in rows) == [f"Active{i}" for i in range(7)]

    actions = list(
        AuditEvent.objects.filter(actor=admin).values_list("action", "details").order_by("id")
    )
    names = [a for a, _ in actions]
    assert names.index("export.requested") < names.index("export.created")
    assert "patientexport.downloaded" in names
    requested = dict(actions)["export.requested"]
    assert requested == {"kind": "patients", "filters": ["q", "status"]}
    assert dict(actions)["export.created"]["rows"] == 7
    # What was typed in the search box is not in any audit row.
    assert not AuditEvent.objects.filter(details__icontains="Active").exists()


@pytest.mark.django_db
def test_progress_is_recorded_while_the_file_is_written(
    admin, location, django_capture_on_commit_callbacks
):
    for _ in range(5):
        PatientFactory(home_location=location)
    with django_capture_on_commit_callbacks(execute=False):
        export = csv_exports.patient_export_start(actor=admin, query="")
    with CaptureQueriesContext(connection) as ctx:
        assert csv_exports.patient_export_run(export_id=export.pk, progress_every=2) == "done"
    writes = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith('UPDATE "patients_patientexport"')
    ]
    # The total is written before the rows, then the count every 2 rows, then the end.
    assert '"rows_total" = 5' in writes[1]
    assert '"rows_done" = 2' in writes[2] and '"rows_done" = 4' in writes[3]
    assert "\"state\" = 'done'" in writes[-1]
    export.refresh_from_db()
    assert (export.rows_done, export.rows_total, export.state) == (5, 5, ExportState.DONE)


@pytest.mark.django_db
def test_running_an_export_twice_writes_one_file_and_one_audit_row(
    admin, location, django_capture_on_commit_callbacks
):
    PatientFactory(home_location=location)
    with django_capture_on_commit_callbacks(execute=False):
        export = csv_exports.patient_export_start(actor=admin, query="")
    assert csv_exports.patient_export_run(export_id=export.pk) == ExportState.DONE
    export.refresh_from_db()
    first_file = export.storage_name
    assert csv_exports.patient_export_run(export_id=export.pk) == ExportState.DONE
    export.refresh_from_db()
    assert export.storage_name == first_file
    assert AuditEvent.objects.filter(action="export.created").count() == 1


@pytest.mark.django_db
def test_an_admin_who_lost_the_role_gets_a_failed_export_and_no_file(
    admin, location, django_capture_on_commit_callbacks
):
    PatientFactory(home_location=location)
    with django_capture_on_commit_callbacks(execute=False):
        export = csv_exports.patient_export_start(actor=admin, query="")
    admin.memberships.update(role=Role.EMPLOYEE)
    assert csv_exports.patient_export_run(export_id=export.pk) == ExportState.FAILED
    export.refresh_from_db()
    assert export.storage_name == "" and "no longer" in export.message
    assert not AuditEvent.objects.filter(action="export.created").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN])
def test_only_an_admin_may_start_an_export(role, location, make_staff, signed_in):
    response = signed_in(make_staff(role, location)).post(START, {"query": ""})
    assert response.status_code in (403, 404)
    assert not PatientExport.objects.exists()
    assert not AuditEvent.objects.filter(action="export.requested").exists()


@pytest.mark.django_db
def test_another_admins_export_does_not_exist_for_me(
    admin, location, make_staff, signed_in, django_capture_on_commit_callbacks
):
    PatientFactory(home_location=location)
    with django_capture_on_commit_callbacks(execute=False):
        export = csv_exports.patient_export_start(actor=admin, query="")
    csv_exports.patient_export_run(export_id=export.pk)
    other = signed_in(make_staff(Role.ADMIN, location))
    for url in (progress_url(export), status_url(export), download_url(export)):
        assert other.get(url).status_code == 404
    # Even a link made for the owner is refused to someone else.
    signed = signed_in(admin).get(download_url(export))["Location"]
    assert other.get(signed).status_code == 404
    assert not AuditEvent.objects.filter(action="patientexport.downloaded").exists()


@pytest.mark.django_db
def test_an_unfinished_export_has_no_download_yet(
    admin, signed_in, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        export = csv_exports.patient_export_start(actor=admin, query="")
    client = signed_in(admin)
    assert client.get(download_url(export)).status_code == 404
    fragment = client.get(status_url(export), HTTP_HX_REQUEST="true")
    assert b"hx-trigger" in fragment.content and b"Waiting to start" in fragment.content


@pytest.mark.django_db
def test_polling_an_exports_progress_does_not_keep_the_session_alive(admin, signed_in):
    client = signed_in(admin)
    client.post(START, {"query": ""})
    export = PatientExport.objects.get(requested_by=admin)
    last_seen = move_back(client, SESSION_LAST_SEEN, 600)
    assert client.get(status_url(export), HTTP_HX_REQUEST="true").status_code == 200
    assert client.get(status_url(export)).status_code == 200
    assert client.session[SESSION_LAST_SEEN] == last_seen
    # Opening the progress page is someone doing something.
    assert client.get(progress_url(export)).status_code == 200
    assert client.session[SESSION_LAST_SEEN] > last_seen
    # The page marks its poll passive for the browser's idle clock too.
    assert b"data-idle-passive" in client.get(progress_url(export)).content


def test_the_streamed_export_url_is_gone():
    with pytest.raises(NoReverseMatch):
        reverse("patients:csv_export")

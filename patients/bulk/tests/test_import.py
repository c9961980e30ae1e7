"""Patient CSV import: the dry run lists every bad row and writes nothing; a valid file imports
all rows in one transaction; progress of a long import is reported by a passive endpoint."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinic.auth.services import _PASSIVE_PATHS
from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory
from patients.bulk import services as csv_io
from patients.bulk import views as csv_views
from patients.bulk.tasks import patients_csv_import
from patients.models import Patient
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

IMPORT = reverse("patients:csv_import")
CONFIRM = reverse("patients:csv_import_confirm")
STATUS = reverse("patients:csv_status")
HEADER = "mrn,first_name,last_name,date_of_birth,sex,phone_mobile,email,home_location\n"


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def client(employee, signed_in):
    return signed_in(employee)


def upload(client, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return client.post(IMPORT, {"file": SimpleUploadedFile("p.csv", data, "text/csv")})


def good_rows(location, n: int = 2, start: int = 0) -> str:
    return "".join(
        f"A{start + i:05d},Ada{i},Lovelace{i},1961-04-12,F,(201) 555-01{i % 100:02d},"
        f"ada{i}@example.test,{location.name}\n"
        for i in range(n)
    )


def test_dry_run_reports_every_bad_row_with_its_reason_and_writes_nothing(client, location):
    other = LocationFactory(organization=location.organization, name="Elsewhere")
    PatientFactory(home_location=location, mrn="TAKEN")
    text = (
        HEADER
        + f"A1,Ada,Lovelace,1961-04-12,F,2015550123,ada@example.test,{location.name}\n"  # ok
        + f"A2,Bob,,1961-04-12,M,,,{location.name}\n"  # line 3: no last name
        + f"A3,Cy,Young,12/04/1961,M,12,bad-email,{location.name}\n"  # line 4: three problems
        + f"A1,Di,Prince,1970-01-01,F,,,{location.name}\n"  # line 5: MRN twice in the file
        + f"TAKEN,Ed,Wood,1970-01-01,Q,,,{location.name}\n"  # line 6: MRN taken, bad sex
        + f"A6,Fay,Ray,1970-01-01,F,,,{other.name}\n"  # line 7: not my location
    )
    before = Patient.objects.count()
    response = upload(client, text)
    assert response.status_code == 400
    problems = {(e.line, e.column) for e in response.context["check"].errors}
    assert problems == {
        (3, "last_name"),
        (4, "date_of_birth"),
        (4, "phone_mobile"),
        (4, "email"),
        (5, "mrn"),
        (6, "mrn"),
        (6, "sex"),
        (7, "home_location"),
    }
    body = response.content.decode()
    assert "Write the date as YYYY-MM-DD" in body and "same MRN is on line 2" in body
    assert "Import 1 patient" not in body  # no confirm while anything is wrong
    assert Patient.objects.count() == before
    assert not AuditEvent.objects.filter(action="patients.imported").exists()


def test_a_valid_file_imports_every_row_after_confirm_with_one_audit_row(
    client, employee, location
):
    response = upload(client, HEADER + good_rows(location, 3))
    assert response.status_code == 200
    assert response.context["count"] == 3
    assert Patient.objects.filter(mrn__startswith="A").count() == 0  # the dry run wrote nothing

    response = client.post(CONFIRM, {"job": response.context["job_id"]})
    assert response.status_code == 302
    imported = Patient.objects.filter(organization=location.organization, mrn__startswith="A")
    assert imported.count() == 3
    ada = imported.get(mrn="A00000")
    assert ada.phone_mobile == "+12015550100"
    assert ada.home_location == location and ada.search_name == "ada0 lovelace0"
    audit = AuditEvent.objects.get(action="patients.imported")
    assert audit.actor == employee and audit.details == {"count": 3}
    assert "Lovelace" not in str(audit.details)
    # The checked file ran once: confirming again imports nothing more.
    client.post(CONFIRM, {"job": response.wsgi_request.POST["job"]})
    assert imported.count() == 3


def test_a_file_that_became_invalid_before_confirm_imports_nothing(client, location):
    response = upload(client, HEADER + good_rows(location, 3))
    PatientFactory(home_location=location, mrn="A00002")  # someone took an MRN meanwhile
    client.post(CONFIRM, {"job": response.context["job_id"]})
    assert Patient.objects.filter(mrn__in=["A00000", "A00001"]).count() == 0
    assert not AuditEvent.objects.filter(action="patients.imported").exists()


def test_the_import_service_refuses_a_file_with_one_bad_row_whole(employee, location):
    text = HEADER + good_rows(location, 4) + f"B1,No,Date,,F,,,{location.name}\n"
    with pytest.raises(csv_io.CsvImportInvalid):
        csv_io.patients_import(actor=employee, text=text)
    assert not Patient.objects.filter(mrn__startswith="A").exists()


def test_a_byte_order_mark_is_accepted_and_other_encodings_get_a_clear_message(client, location):
    ok = upload(client, "\ufeff".encode() + (HEADER + good_rows(location, 1)).encode())
    assert ok.status_code == 200 and ok.context["count"] == 1
    latin = (HEADER + f"A1,Zoë,Brontë,1961-04-12,F,,,{location.name}\n").encode("latin-1")
    response = upload(client, latin)
    assert response.status_code == 400
    assert "not UTF-8" in response.context["form"].errors["file"][0]
    assert not Patient.objects.filter(mrn="A1").exists()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("first_name,last_name\n", "missing column(s): mrn"),
        (HEADER.strip() + ",ssn\n", "unknown column(s): ssn"),
        ("", "file is empty"),
    ],
)
def test_wrong_columns_get_a_clear_message(client, location, header, message):
    response = upload(client, header + ("" if not header else good_rows(location, 1)))
    assert response.status_code == 400
    assert message in response.context["form"].errors["file"][0]


def test_a_location_outside_my_scope_is_refused_even_in_my_organization(
    client, location, make_staff
):
    elsewhere = LocationFactory(organization=location.organization)
    make_staff(Role.EMPLOYEE, elsewhere)
    foreign = LocationFactory(name=location.name + " abroad")
    for target in (elsewhere, foreign):
        response = upload(client, HEADER + good_rows(target, 1))
        assert response.status_code == 400
        [error] = response.context["check"].errors
        assert error.column == "home_location"
    assert not Patient.objects.filter(mrn="A00000").exists()


def test_clinicians_and_technicians_may_not_import(location, make_staff, signed_in):
    for role in (Role.CLINICIAN, Role.FIELD_TECHNICIAN):
        c = signed_in(make_staff(role, location))
        assert c.get(IMPORT).status_code == 404
        assert upload(c, HEADER + good_rows(location, 1)).status_code == 404
    assert not Patient.objects.filter(mrn="A00000").exists()


def test_a_large_import_runs_as_a_task_and_the_status_endpoint_reports_progress(
    client, employee, location, make_staff, signed_in, monkeypatch
):
    monkeypatch.setattr(csv_views, "SYNC_ROWS", 2)
    monkeypatch.setattr(csv_io, "BATCH_SIZE", 2)
    response = upload(client, HEADER + good_rows(location, 5))
    job_id = response.context["job_id"]
    page = client.post(CONFIRM, {"job": job_id})
    assert page.status_code == 200
    assert f'hx-get="{STATUS}?job={job_id}"' in page.content.decode()
    assert client.get(STATUS, {"job": job_id}).json()["state"] == "queued"
    assert not Patient.objects.filter(mrn__startswith="A").exists()

    patients_csv_import(job_id, employee.pk)  # what the worker runs

    status = client.get(STATUS, {"job": job_id}).json()
    assert status == {"kind": "import", "state": "done", "done": 5, "total": 5, "message": None}
    assert Patient.objects.filter(mrn__startswith="A").count() == 5
    fragment = client.get(STATUS, {"job": job_id}, HTTP_HX_REQUEST="true")
    assert b"5 patients imported" in fragment.content and b"hx-trigger" not in fragment.content
    # Someone else's job does not exist for them.
    other = signed_in(make_staff(Role.EMPLOYEE, location))
    assert other.get(STATUS, {"job": job_id}).status_code == 404


def test_polling_the_status_is_passive_and_does_not_keep_the_session_alive():
    assert STATUS in _PASSIVE_PATHS


def test_the_import_page_is_offered_to_employees(client, employee, location):
    response = client.get(IMPORT)
    assert response.status_code == 200
    assert b"home_location" in response.content
    listing = client.get(reverse("patients:list"))
    assert IMPORT.encode() in listing.content
    assert reverse("patients:csv_export_start").encode() not in listing.content


def test_checking_a_file_costs_the_same_queries_for_few_rows_or_many(employee, location):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(n: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            check = csv_io.patients_import_check(
                actor=employee, text=HEADER + good_rows(location, n)
            )
        assert check.valid
        return len(ctx)

    queries(1)  # the user's memberships are read once and kept
    assert queries(2) == queries(30) <= 2

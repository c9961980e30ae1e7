"""Patient CSV export: ADMIN only, the list's filters and scope, formulas defused, audited
without patient data, a constant number of queries."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, Role
from patients import csv_io
from patients.models import PatientStatus
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

EXPORT = reverse("patients:csv_export")


@pytest.fixture
def admin(location, make_staff):
    return make_staff(Role.ADMIN, location)


@pytest.fixture
def client(admin, signed_in):
    return signed_in(admin)


def rows_of(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def test_employees_and_clinicians_may_not_export(location, make_staff, signed_in):
    PatientFactory(home_location=location)
    for role in (Role.EMPLOYEE, Role.CLINICIAN):
        response = signed_in(make_staff(role, location)).get(EXPORT)
        assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="export.created").exists()


def test_the_export_follows_the_list_filters_and_the_organization(client, admin, location):
    PatientFactory(home_location=location, last_name="Active", status=PatientStatus.ACTIVE)
    PatientFactory(home_location=location, last_name="Pending")
    PatientFactory(last_name="Foreign", status=PatientStatus.ACTIVE)  # another organization
    response = client.get(EXPORT, {"status": PatientStatus.ACTIVE})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = rows_of(response)
    assert [r["last_name"] for r in rows] == ["Active"]
    assert rows[0]["home_location"] == location.name
    assert list(rows[0]) == list(csv_io.EXPORT_COLUMNS)

    everyone = rows_of(client.get(EXPORT))
    assert sorted(r["last_name"] for r in everyone) == ["Active", "Pending"]


def test_the_export_defuses_formulas_and_is_audited_without_patient_data(client, admin, location):
    PatientFactory(
        home_location=location,
        first_name='=HYPERLINK("http://x")',
        last_name="@SUM(A1)",
        phone_mobile="+12015550123",
    )
    [row] = rows_of(client.get(EXPORT, {"q": "SUM"}))
    assert row["first_name"] == '\'=HYPERLINK("http://x")'
    assert row["last_name"] == "'@SUM(A1)"
    assert row["phone_mobile"] == "'+12015550123"
    audit = AuditEvent.objects.get(action="export.created")
    assert audit.actor == admin
    assert audit.details == {"kind": "patients", "filters": ["q"], "rows": 1}
    assert "SUM" not in str(audit.details) and "SUM" not in audit.object_id


def test_an_exported_file_imports_back_with_its_escapes_removed(client, admin, location):
    PatientFactory(home_location=location, mrn="R1", phone_mobile="+12015550123", email="")
    body = b"".join(client.get(EXPORT).streaming_content)
    text = csv_io.csv_decode(body).replace("R1", "R2")
    check = csv_io.patients_import_check(actor=admin, text=text)
    assert check.valid, check.errors
    assert check.rows[0]["phone_mobile"] == "+12015550123"


def test_the_export_costs_the_same_queries_for_one_patient_or_many(client, location):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(EXPORT)
            b"".join(response.streaming_content)
        return len(ctx)

    PatientFactory(home_location=location)
    one = queries()
    PatientFactory.create_batch(12, home_location=location)
    assert queries() == one


def test_the_list_offers_the_export_of_the_current_filters_to_an_admin(client):
    response = client.get(reverse("patients:list"), {"status": PatientStatus.ACTIVE})
    body = response.content.decode()
    assert f'action="{reverse("patients:csv_export_start")}"' in body
    assert f'name="query" value="status={PatientStatus.ACTIVE}"' in body

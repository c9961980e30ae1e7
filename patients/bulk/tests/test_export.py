"""Patient CSV export (the background export's file, written by the service its task runs):
the list's filters and scope, formulas defused, audited without patient data, a constant
number of queries. Who may export, the worker and the progress page:
``test_csv_background_export``."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import AuditEvent, Role
from patients.bulk import exports as csv_exports
from patients.bulk import services as csv_io
from patients.bulk.tests.test_background_export import START, download_url, fetch
from patients.models import ExportState, PatientExport, PatientStatus
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(location, make_staff):
    return make_staff(Role.ADMIN, location)


@pytest.fixture
def client(admin, signed_in):
    return signed_in(admin)


def exported(client, params: dict[str, str] | None = None) -> bytes:
    """Start an export of the list filtered by ``params``, run it as its task would, and
    download the file through its signed link."""
    assert client.post(START, {"query": urlencode(params or {})}).status_code == 302
    export = PatientExport.objects.latest("id")
    assert csv_exports.patient_export_run(export_id=export.pk) == ExportState.DONE
    return fetch(client, download_url(export))


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_export_follows_the_list_filters_and_the_organization(client, admin, location):
    PatientFactory(home_location=location, last_name="Active", status=PatientStatus.ACTIVE)
    PatientFactory(home_location=location, last_name="Pending")
    PatientFactory(last_name="Foreign", status=PatientStatus.ACTIVE)  # another organization
    rows = rows_of(exported(client, {"status": PatientStatus.ACTIVE}))
    assert [r["last_name"] for r in rows] == ["Active"]
    assert rows[0]["home_location"] == location.name
    assert list(rows[0]) == list(csv_io.EXPORT_COLUMNS)

    everyone = rows_of(exported(client))
    assert sorted(r["last_name"] for r in everyone) == ["Active", "Pending"]


def test_the_export_defuses_formulas_and_is_audited_without_patient_data(client, admin, location):
    PatientFactory(
        home_location=location,
        first_name='=HYPERLINK("http://x")',
        last_name="@SUM(A1)",
        phone_mobile="+12015550123",
    )
    [row] = rows_of(exported(client, {"q": "SUM"}))
    assert row["first_name"] == '\'=HYPERLINK("http://x")'
    assert row["last_name"] == "'@SUM(A1)"
    assert row["phone_mobile"] == "'+12015550123"
    audit = AuditEvent.objects.get(action="export.created")
    assert audit.actor == admin
    assert audit.details == {"kind": "patients", "filters": ["q"], "rows": 1}
    assert "SUM" not in str(audit.details) and "SUM" not in audit.object_id


def test_an_exported_file_imports_back_with_its_escapes_removed(client, admin, location):
    PatientFactory(home_location=location, mrn="R1", phone_mobile="+12015550123", email="")
    body = exported(client)
    text = csv_io.csv_decode(body).replace("R1", "R2")
    check = csv_io.patients_import_check(actor=admin, text=text)
    assert check.valid, check.errors
    assert check.rows[0]["phone_mobile"] == "+12015550123"


def test_the_export_costs_the_same_queries_for_one_patient_or_many(client, location):
    def queries() -> int:
        client.post(START, {"query": ""})
        export = PatientExport.objects.latest("id")
        with CaptureQueriesContext(connection) as ctx:
            csv_exports.patient_export_run(export_id=export.pk)
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

"""Pairing a tablet (codes, limits, the device cookie), what the device token opens and what
it does not, the tablet's uploads, and the staff pages."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from django.utils import timezone

from clinic.models import AuditEvent, Role
from clinic.tests.factories import LocationFactory, staff_user
from patients.guided.models import DeviceToken, GuidedSession, GuidedUpload, PairingCode
from patients.guided.services import (
    PairingRateLimited,
    PairingRefused,
    device_pair,
    pairing_code_current,
    pairing_code_issue,
)
from patients.tests.factories import PatientFactory

from .factories import jpeg_file, paired_session, started_session
from .helpers import ok, staff_do

pytestmark = pytest.mark.django_db


def code_of(session: GuidedSession) -> str:
    current = pairing_code_current(session)
    assert current is not None
    return current[0]


def pair_client(code: str, client: Client | None = None, **params: str):
    client = client or Client()
    url = "/guided/pair/" + (f"?location={params['location']}" if "location" in params else "")
    return client, client.post(url, {"code": code})


# ---------------------------------------------------------------- codes


def test_a_right_code_pairs_the_tablet_once_and_sets_a_scoped_cookie():
    session = started_session()
    code = code_of(session)
    _client, response = pair_client(code)
    assert response.status_code == 302 and response["Location"] == "/guided/device/"
    cookie = response.cookies["guided_device"]
    assert cookie["httponly"] and cookie["path"] == "/guided/device/"
    assert cookie["samesite"] == "Strict"
    device = DeviceToken.objects.get(session=session)
    assert cookie.value not in device.token_hash  # stored hashed only
    assert AuditEvent.objects.filter(action="guided_session.paired").count() == 1
    # Single use: the same code again is refused with the plain message.
    _, again = pair_client(code)
    assert again.status_code == 400
    assert "not right or has expired" in again.content.decode()
    assert DeviceToken.objects.filter(session=session).count() == 1


def test_wrong_and_expired_codes_get_a_plain_message():
    session = started_session()
    code = code_of(session)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    _, response = pair_client(wrong)
    assert response.status_code == 400
    assert "not right or has expired" in response.content.decode()
    _, response = pair_client("12ab")
    assert "Enter the 6 digits" in response.content.decode()
    PairingCode.objects.filter(session=session).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    _, response = pair_client(code)
    assert response.status_code == 400
    assert not DeviceToken.objects.filter(session=session).exists()


def test_a_new_code_kills_the_old_one():
    session = started_session()
    old = code_of(session)
    new, _ = pairing_code_issue(actor=session.started_by, session=session)
    with pytest.raises(PairingRefused):
        device_pair(code=old, device_key="k", ip="127.0.0.9", user_agent="t")
    device_pair(code=new, device_key="k", ip="127.0.0.9", user_agent="t")


def test_failed_tries_are_limited_per_device():
    session = started_session()
    client = Client()
    for _ in range(5):
        _, response = pair_client("000000" if code_of(session) != "000000" else "111111", client)
        assert response.status_code == 400
    _, response = pair_client(code_of(session), client)
    assert response.status_code == 429
    assert "Too many tries" in response.content.decode()
    assert not DeviceToken.objects.filter(session=session).exists()


def test_failed_tries_are_limited_per_location():
    session = started_session()
    location = session.location
    wrong = "000000" if code_of(session) != "000000" else "111111"
    for i in range(30):
        with pytest.raises(PairingRefused):
            device_pair(
                code=wrong, device_key=f"d{i}", ip=f"10.0.0.{i}", user_agent="t", location=location
            )
    with pytest.raises(PairingRateLimited):
        device_pair(
            code=code_of(session),
            device_key="fresh",
            ip="10.9.9.9",
            user_agent="t",
            location=location,
        )
    # Another location's tablets are not held back.
    other = started_session(location=LocationFactory(organization=session.organization))
    device_pair(code=code_of(other), device_key="fresh2", ip="10.9.9.8", user_agent="t")


def test_a_code_for_another_location_is_refused_on_a_location_tablet():
    session = started_session()
    elsewhere = LocationFactory(organization=session.organization)
    with pytest.raises(PairingRefused):
        device_pair(
            code=code_of(session),
            device_key="k",
            ip="127.0.0.3",
            user_agent="t",
            location=elsewhere,
        )


# ---------------------------------------------------------------- what the token opens


def paired_client() -> tuple[Client, GuidedSession]:
    session = started_session()
    client, response = pair_client(code_of(session))
    assert response.status_code == 302
    return client, session


def test_device_token_opens_the_tablet_page_and_nothing_else():
    client, session = paired_client()
    page = client.get("/guided/device/")
    assert page.status_code == 200
    assert 'id="guided-device"' in page.content.decode()
    assert f'data-socket-url="/guided/device/ws/{session.public_id}/"' in page.content.decode()
    for url in ("/", "/patients/", "/guided/", f"/guided/{session.public_id}/", "/admin/"):
        response = client.get(url)
        assert response.status_code in (302, 403, 404), url
        if response.status_code == 302:
            assert "login" in response["Location"] or "/admin/login" in response["Location"], url
    for url in ("/api/v1/patients/", "/api/v1/me/", "/api/schema/"):
        assert client.get(url).status_code in (401, 403, 404), url


def test_tablet_page_without_a_live_token_returns_to_the_neutral_screen():
    client, session = paired_client()
    ok(staff_do(session, session.started_by, "END_SESSION"))
    response = client.get("/guided/device/")
    assert response.status_code == 302
    assert response["Location"] == "/guided/pair/?ended=1"
    assert response["Clear-Site-Data"] == '"cache", "storage"'
    assert response.cookies["guided_device"].value == ""
    ended = client.get("/guided/pair/?ended=1")
    assert "This session has ended" in ended.content.decode()
    assert Client().post("/guided/device/upload/", {"slot": "id_front"}).status_code == 403


def test_uploads_are_checked_by_content_and_need_the_step_opened():
    client, session = paired_client()
    photo = jpeg_file()
    response = client.post("/guided/device/upload/", {"slot": "id_front", "file": photo})
    assert response.status_code == 400
    assert "not been opened" in response.json()["error"]
    ok(staff_do(session, session.started_by, "NAVIGATE", step="id_document"))
    from django.core.files.uploadedfile import SimpleUploadedFile

    html = SimpleUploadedFile("id.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg")
    response = client.post("/guided/device/upload/", {"slot": "id_front", "file": html})
    assert response.status_code == 400
    assert "web page" in response.json()["error"]
    response = client.post("/guided/device/upload/", {"slot": "id_front", "file": jpeg_file()})
    assert response.status_code == 200
    upload = GuidedUpload.objects.get(public_id=response.json()["upload"])
    assert upload.session_id == session.pk and upload.kind == "jpeg"
    preview = client.get(f"/guided/device/upload/{upload.public_id}/")
    assert preview.status_code == 200 and preview["Content-Type"] == "image/jpeg"
    # Another tablet (another session) cannot see it.
    other_client, _ = paired_client()
    assert other_client.get(f"/guided/device/upload/{upload.public_id}/").status_code == 404


def test_signature_upload_needs_a_request_and_a_png():
    _session, raw, _staff = paired_session()
    client = Client()
    client.cookies["guided_device"] = raw
    from .factories import png_file

    response = client.post(
        "/guided/device/signature/", {"document": "privacy", "image": png_file()}
    )
    assert response.status_code == 400
    assert "No signature is being asked" in response.json()["error"]


# ---------------------------------------------------------------- staff pages


def test_staff_start_a_session_for_an_existing_patient_from_the_record(signed_in):
    patient = PatientFactory()
    staff = staff_user(role=Role.EMPLOYEE, location=patient.home_location)
    client = signed_in(staff)
    detail = client.get(f"/patients/{patient.public_id}/")
    assert "guided-start-patient" in detail.content.decode()
    response = client.post("/guided/start/", {"patient": str(patient.public_id)})
    assert response.status_code == 302
    session = GuidedSession.objects.get(patient=patient)
    assert response["Location"] == f"/guided/{session.public_id}/"
    assert session.values["first_name"] == patient.first_name  # the record as starting answers
    console = client.get(response["Location"])
    body = console.content.decode()
    assert console.status_code == 200
    assert re.search(r'id="guided-code"[^>]*>\d{6}<', body)
    assert f'data-socket-url="/ws/guided/{session.public_id}/"' in body
    assert AuditEvent.objects.filter(action="guided_session.viewed").count() == 1
    qr = client.get(f"/guided/{session.public_id}/qr.svg")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"
    assert b"<svg" in qr.content


def test_staff_start_a_session_for_a_new_patient(signed_in):
    location = LocationFactory()
    staff = staff_user(role=Role.EMPLOYEE, location=location)
    client = signed_in(staff)
    page = client.get("/guided/")
    assert page.status_code == 200 and str(location.public_id) in page.content.decode()
    response = client.post("/guided/start/", {"location": str(location.public_id)})
    session = GuidedSession.objects.get(location=location)
    assert response["Location"] == f"/guided/{session.public_id}/"
    assert session.patient is None and session.step == "identity"
    assert AuditEvent.objects.filter(action="guided_session.started").count() == 1


def test_staff_of_other_locations_cannot_start_or_see_sessions(signed_in):
    session = started_session()
    technician = staff_user(role=Role.FIELD_TECHNICIAN, location=session.location)
    outsider = staff_user(
        role=Role.EMPLOYEE, location=LocationFactory(organization=session.organization)
    )
    for user in (technician, outsider):
        client = signed_in(user)
        assert client.get(f"/guided/{session.public_id}/").status_code == 404
        assert client.post(f"/guided/{session.public_id}/end/").status_code == 404
        response = client.post("/guided/start/", {"location": str(session.location.public_id)})
        assert response.status_code in (302, 404)
        assert GuidedSession.objects.filter(location=session.location).count() == 1
    session.refresh_from_db()
    assert session.status == "active"


def test_session_list_uses_a_constant_number_of_queries(signed_in, django_assert_max_num_queries):
    location = LocationFactory()
    staff = staff_user(role=Role.EMPLOYEE, location=location)
    client = signed_in(staff)
    started_session(staff=staff, location=location)
    with django_assert_max_num_queries(30) as few:
        client.get("/guided/")
    for _ in range(4):
        started_session(
            staff=staff, location=location, patient=PatientFactory(home_location=location)
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/guided/").status_code == 200

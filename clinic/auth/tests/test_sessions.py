"""Idle timeout, absolute lifetime, and the session status endpoints the idle dialog uses."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client

from clinic.auth.sessions import SESSION_AUTH_AT, SESSION_LAST_SEEN
from clinic.models import AuditEvent

pytestmark = pytest.mark.django_db


def move_back(client: Client, key: str, seconds: int) -> int:
    session = client.session
    session[key] = int(session[key]) - seconds
    session.save()
    return session[key]


def test_idle_session_ends_and_next_page_goes_to_login_with_notice(make_staff, signed_in):
    user = make_staff()
    client = signed_in(user)
    move_back(client, SESSION_LAST_SEEN, settings.IDLE_TIMEOUT_SECONDS + 1)

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/login?expired=1"
    row = AuditEvent.objects.get(actor=user, action="auth.session_expired")
    assert row.details == {"reason": "idle"}
    login_page = client.get(response["Location"])
    assert "Your session ended after inactivity" in login_page.content.decode()
    assert client.get("/").status_code == 302


def test_idle_htmx_request_gets_hx_redirect(make_staff, signed_in):
    client = signed_in(make_staff())
    move_back(client, SESSION_LAST_SEEN, settings.IDLE_TIMEOUT_SECONDS + 1)

    response = client.get("/", HTTP_HX_REQUEST="true")

    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login?expired=1"


def test_activity_just_inside_the_limit_keeps_the_session(make_staff, signed_in):
    client = signed_in(make_staff())
    move_back(client, SESSION_LAST_SEEN, settings.IDLE_TIMEOUT_SECONDS - 5)

    assert client.get("/").status_code == 200
    assert int(client.session[SESSION_LAST_SEEN]) >= int(time.time()) - 5


def test_session_status_reports_without_extending_the_session(make_staff, signed_in):
    client = signed_in(make_staff())
    seen = move_back(client, SESSION_LAST_SEEN, 100)

    body = client.get("/session/status", HTTP_ACCEPT="application/json").json()

    assert body["warning"] == settings.IDLE_WARNING_SECONDS
    assert 0 < body["remaining"] <= settings.IDLE_TIMEOUT_SECONDS - 100
    assert client.session[SESSION_LAST_SEEN] == seen


def test_status_alone_never_keeps_an_idle_session_alive(make_staff, signed_in):
    user = make_staff()
    client = signed_in(user)
    move_back(client, SESSION_LAST_SEEN, settings.IDLE_TIMEOUT_SECONDS - 10)
    client.get("/session/status", HTTP_ACCEPT="application/json")
    move_back(client, SESSION_LAST_SEEN, 11)

    response = client.get("/session/status", HTTP_ACCEPT="application/json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"
    assert AuditEvent.objects.filter(actor=user, action="auth.session_expired").count() == 1


def test_keepalive_counts_as_activity(make_staff, signed_in):
    client = signed_in(make_staff())
    seen = move_back(client, SESSION_LAST_SEEN, 100)

    body = client.post("/session/keepalive", HTTP_ACCEPT="application/json").json()

    assert int(client.session[SESSION_LAST_SEEN]) > seen
    assert body["remaining"] > settings.IDLE_TIMEOUT_SECONDS - 100


def test_keepalive_needs_post_and_csrf(make_staff, signed_in):
    client = signed_in(make_staff())
    assert client.get("/session/keepalive").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert strict.post("/session/keepalive").status_code == 403


def test_status_and_keepalive_answer_401_json_when_signed_out(db):
    client = Client()
    for response in (client.get("/session/status"), client.post("/session/keepalive")):
        assert response.status_code == 401
        assert response["Content-Type"] == "application/json"
        assert response.json()["remaining"] == 0


def test_absolute_lifetime_ends_even_an_active_session(make_staff, signed_in):
    user = make_staff()
    client = signed_in(user)
    move_back(client, SESSION_AUTH_AT, settings.SESSION_ABSOLUTE_SECONDS + 1)

    response = client.get("/")

    assert response["Location"] == "/login?expired=1"
    row = AuditEvent.objects.get(actor=user, action="auth.session_expired")
    assert row.details == {"reason": "absolute_lifetime"}


def test_status_counts_down_to_the_absolute_limit_when_it_comes_first(make_staff, signed_in):
    client = signed_in(make_staff())
    move_back(client, SESSION_AUTH_AT, settings.SESSION_ABSOLUTE_SECONDS - 60)

    body = client.get("/session/status", HTTP_ACCEPT="application/json").json()

    assert body["remaining"] <= 60


def test_signed_in_pages_carry_the_idle_dialog_and_timings(make_staff, signed_in):
    body = signed_in(make_staff()).get("/").content.decode()
    assert 'id="idle-dialog"' in body
    assert 'id="idle-countdown"' in body
    assert 'id="idle-stay"' in body
    assert f'data-idle-timeout="{settings.IDLE_TIMEOUT_SECONDS}"' in body
    assert f'data-idle-warning="{settings.IDLE_WARNING_SECONDS}"' in body

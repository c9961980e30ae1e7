"""Every page that takes no path parameter answers junk query strings with a page or a clear
refusal, never a 500 (a NUL byte, bad ids, impossible dates, unknown choices)."""

from __future__ import annotations

from django.test import Client
from django.urls import get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

from clinic.models import Role
from conftest import sign_in
from tests.test_tenant_isolation import _walk

JUNK = {
    "q": "Smith'; -- %_\\",
    "after": "not-a-uuid",
    "before": "-1",
    "page": "x",
    "status": "NOPE",
    "location": "abc",
    "user": "zz",
    "physician": "9999999999",
    "flag": "<script>",
    "from": "2020-13-45",
    "to": "yesterday",
    "sort": "drop table",
    "view": "x" * 300,
    "job": "../../etc/passwd",
    "tab": "nope",
    "action": "%",
    "object_id": "\u202e",
}


def test_parameterless_pages_survive_junk_query_strings(make_staff, db):
    admin = make_staff(role=Role.ADMIN)
    client = sign_in(Client(), admin)
    failures = []
    checked = 0
    for route in _walk(get_resolver().url_patterns):
        if route.kwargs or not route.reverse_name:
            continue
        try:
            url = reverse(route.reverse_name)
        except NoReverseMatch:
            continue
        if url.startswith("/admin/"):
            continue  # Django's own admin; its changelists are covered by the admin tests
        response = client.get(url, JUNK)
        checked += 1
        if response.status_code >= 500:
            failures.append(f"{url} -> {response.status_code}")
        # A NUL byte is refused up front with a plain 400 (PostgreSQL cannot store it).
        nul = client.get(url, {"q": "Smith\x00"})
        if nul.status_code != 400:
            failures.append(f"{url} with a NUL byte -> {nul.status_code}")
        if "_auth_user_id" not in client.session:
            client = sign_in(Client(), admin)
    assert checked > 10
    assert not failures, failures


def test_a_nul_byte_in_a_form_is_refused_with_a_plain_400_and_nothing_written(db):
    from clinic.models import AuditEvent

    before = AuditEvent.objects.count()
    response = Client().post("/login", {"email": "a\x00@example.test", "password": "x" * 12})
    assert response.status_code == 400
    assert b"Something was wrong with that request" in response.content
    assert AuditEvent.objects.count() == before

"""Nothing of one organization is visible to another: not a page, an API call, an admin
screen, a file link or a socket.

The walk enumerates the URL resolver and the socket routes, so every URL added later is
covered without editing this test. It signs in as an ADMIN of organization B (the most
privileged staff role) and requests every URL with the real ids of organization A's rows.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.exceptions import NoReverseMatch
from django.urls.resolvers import RoutePattern

from clinic.audit.services import audit_record
from clinic.models import AuditEvent, Notification, OutboxEvent, Role
from clinic.tests.factories import LocationFactory, MembershipFactory, staff_user
from conftest import sign_in
from patients.guided.socket_auth import DEVICE_COOKIE, DEVICE_SOCKET_PREFIX, device_socket_path

PROJECT_APPS = {
    "clinic",
    "patients",
    "guided",
    "scheduling",
    "equipment",
    "comms",
    "telehealth",
    "billing",
}


@dataclass
class Route:
    pattern: str  # the route as written, for messages
    kwargs: list[str]
    reverse_name: str | None
    callback: object


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}{p.namespace}:"
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            pattern = p.pattern
            if isinstance(pattern, RoutePattern):
                kwargs = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern))
            else:
                kwargs = list(pattern.regex.groupindex)
            name = f"{namespace}{p.name}" if p.name else None
            yield Route(prefix + str(pattern), kwargs, name, p.callback)


def _project_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]


@pytest.fixture
def two_orgs(db):
    """Organization A with a row of every kind; an ADMIN of organization B to attack with."""
    return _build_two_orgs()


def _build_two_orgs():
    loc_a = LocationFactory(name="Alpha Sleep Center")
    loc_a2 = LocationFactory(organization=loc_a.organization, name="Alpha Annex")
    admin_a = staff_user(role=Role.ADMIN, location=loc_a, full_name="Avery Alpha")
    employee_a = staff_user(role=Role.EMPLOYEE, location=loc_a, full_name="Ellis Alpha")
    MembershipFactory(user=employee_a, location=loc_a2, role=Role.FIELD_TECHNICIAN)
    audit_record(actor=admin_a, action="test.seed", obj=loc_a)
    Notification.objects.create(
        organization=loc_a.organization, recipient=admin_a, kind="test", title="Alpha secret notice"
    )
    OutboxEvent.objects.create(organization=loc_a.organization, name="test.seed")
    for extra in _extra_rows_for_org_a(loc_a):
        extra()

    loc_b = LocationFactory(name="Bravo Clinic")
    admin_b = staff_user(role=Role.ADMIN, location=loc_b, full_name="Blair Bravo")
    return {
        "org_a": loc_a.organization,
        "loc_a": loc_a,
        "admin_a": admin_a,
        "loc_b": loc_b,
        "admin_b": admin_b,
    }


def _extra_rows_for_org_a(location):
    """Later apps add a row of each of their models for organization A here (via factories)."""
    from billing.tests.factories import billing_rows_for_tenant_walk
    from comms.tests.factories import comms_rows_for_tenant_walk
    from equipment.tests.factories import equipment_rows_for_tenant_walk
    from patients.clinical.tests.factories import clinical_rows_for_tenant_walk
    from patients.documents.tests.factories import document_rows_for_tenant_walk
    from patients.guided.tests.factories import guided_rows_for_tenant_walk
    from patients.referrals.tests.factories import referral_rows_for_tenant_walk
    from patients.tests.factories import patient_rows_for_tenant_walk
    from scheduling.tests.factories import scheduling_rows_for_tenant_walk

    return [
        lambda: document_rows_for_tenant_walk(patient_rows_for_tenant_walk(location)),
        lambda: clinical_rows_for_tenant_walk(location),
        lambda: referral_rows_for_tenant_walk(location),
        lambda: scheduling_rows_for_tenant_walk(location),
        lambda: comms_rows_for_tenant_walk(location),
        lambda: guided_rows_for_tenant_walk(location),
        lambda: equipment_rows_for_tenant_walk(location),
        lambda: billing_rows_for_tenant_walk(location),
    ]


def _rows_of(org) -> dict[type[models.Model], list[models.Model]]:
    """Every row of a project model that belongs to ``org``."""
    from clinic.tenancy import _org_field

    found: dict[type[models.Model], list[models.Model]] = {}
    for model in _project_models():
        if getattr(model, "tenant_organization_field", None) is None:
            continue
        rows = list(model._default_manager.filter(**{_org_field(model): org.pk})[:20])
        if rows:
            found[model] = rows
    return found


def _markers(rows: dict[type[models.Model], list[models.Model]]) -> set[str]:
    """Strings that must never appear in an answer to organization B."""
    marks: set[str] = set()
    for objs in rows.values():
        for obj in objs:
            for attr in ("public_id", "name", "full_name", "email", "title"):
                value = getattr(obj, attr, None)
                if value and len(str(value)) >= 6:
                    marks.add(str(value))
    return marks


def _first_of_each(rows: dict[type[models.Model], list[models.Model]]) -> dict:
    """One row per model: a leak through a route shows with any id of the kind it serves."""
    return {model: objs[:1] for model, objs in rows.items()}


def _candidates(route: Route, rows: dict[type[models.Model], list[models.Model]]) -> list[str]:
    model_admin = getattr(route.callback, "model_admin", None)
    if model_admin is not None:
        return [str(o.pk) for o in rows.get(model_admin.model, [])]
    values = [str(o.public_id) for objs in rows.values() for o in objs if hasattr(o, "public_id")]
    values += [str(o.pk) for objs in rows.values() for o in objs]
    return sorted(set(values))


def _admin_app_label(kwargs_names: list[str]) -> dict[str, str]:
    return {"app_label": "clinic"} if "app_label" in kwargs_names else {}


def _takes_ids(route: Route) -> bool:
    return any(k not in _admin_app_label(route.kwargs) for k in route.kwargs)


def _urls_for(route: Route, rows) -> Iterator[str]:
    from django.urls import reverse

    if not route.reverse_name:
        return
    fixed = _admin_app_label(route.kwargs)
    free = [k for k in route.kwargs if k not in fixed]
    if not free:
        try:
            yield reverse(route.reverse_name, kwargs=fixed or None)
        except NoReverseMatch:
            return
        return
    values = _candidates(route, rows)
    if len(free) > 1:
        # e.g. admin's r/<content_type_id>/<object_id>/: pair each value with every other's kind
        values = values[:10]
    for value in values:
        kwargs = dict(fixed, **dict.fromkeys(free, value))
        try:
            yield reverse(route.reverse_name, kwargs=kwargs)
        except NoReverseMatch:
            continue


def _snapshot(org) -> dict[str, object]:
    """A fingerprint of organization A's data, to prove the walk changed nothing."""
    state: dict[str, object] = {}
    for model, objs in _rows_of(org).items():
        for obj in objs:
            fields = {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}
            state[f"{model._meta.label}:{obj.pk}"] = repr(sorted(fields.items()))
    return state


def _not_tenant_owned(route: Route) -> bool:
    """An admin screen of a model no organization owns (users, groups, OTP devices...): there
    is no organization-A row to ask it for. Its parameterless screens are still walked."""
    model_admin = getattr(route.callback, "model_admin", None)
    return (
        model_admin is not None
        and _takes_ids(route)
        and getattr(model_admin.model, "tenant_organization_field", None) is None
    )


def _walked_routes() -> list[Route]:
    """Every named URL of the project (an unnamed one is admin's redirect to a named one)."""
    routes = [r for r in _walk(get_resolver().url_patterns) if r.reverse_name]
    return [r for r in routes if not _not_tenant_owned(r)]


WALKED_ROUTES = _walked_routes()


@pytest.fixture(scope="class")
def org_a_world(django_db_setup, django_db_blocker):
    """``two_orgs`` built once for the class inside a transaction that is rolled back after it;
    each test runs in a savepoint inside it (pytest-django's ``db``), so nothing one route's
    requests change is seen by the next."""
    from django.db import transaction

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            world = _build_two_orgs()
            rows = _rows_of(world["org_a"])
            world["rows"] = _first_of_each(rows)
            world["markers"] = _markers(rows)
            world["before"] = _snapshot(world["org_a"])
            yield world
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


class TestEveryUrlRefusesAnotherOrganizationsData:
    """One test per URL: organization B's ADMIN asks it for organization A's rows, one id of
    every model (GET, and POST where the URL takes an id)."""

    def test_the_walk_sees_the_urls(self):
        assert len(WALKED_ROUTES) > 20, "the resolver walk found too few URLs"
        assert sum(_takes_ids(r) for r in WALKED_ROUTES) > 20

    @pytest.mark.parametrize("route", WALKED_ROUTES, ids=lambda r: r.pattern)
    def test_url(self, org_a_world, db, route):
        assert len(org_a_world["markers"]) > 5
        client = sign_in(Client(), org_a_world["admin_b"])
        takes_ids = _takes_ids(route)
        urls = list(_urls_for(route, org_a_world["rows"]))
        if takes_ids:
            assert urls, (
                f"{route.pattern}: no organization-A id fits this URL; give the walk a row "
                "of the model it serves (organization A's rows in two_orgs)"
            )
        problems: list[str] = []
        for url in urls:
            for method in ("get", "post"):
                if not takes_ids and method == "post":
                    continue  # parameterless POSTs act on B's own data (sign out, mark all read)
                response = getattr(client, method)(url)
                status = response.status_code
                body = (
                    response.content.decode(errors="replace")
                    if hasattr(response, "content")
                    else ""
                )
                if status >= 500:
                    problems.append(f"{method.upper()} {url} -> {status}")
                elif takes_ids and status not in (403, 404, 405):
                    problems.append(f"{method.upper()} {url} -> {status} (expected 403/404)")
                leaked = [m for m in org_a_world["markers"] if m in body]
                if leaked:
                    problems.append(f"{method.upper()} {url} leaks {leaked[:3]}")
                # Signing out (or an idle expiry) must not end the walk early.
                if "_auth_user_id" not in client.session:
                    client = sign_in(Client(), org_a_world["admin_b"])
        assert not problems, "\n".join(problems)
        assert _snapshot(org_a_world["org_a"]) == org_a_world["before"]


def test_unknown_ids_look_the_same_as_other_organizations_ids(two_orgs):
    """ "Not yours" and "does not exist" are indistinguishable."""
    from django.urls import reverse

    client = sign_in(Client(), two_orgs["admin_b"])
    rows = _first_of_each(_rows_of(two_orgs["org_a"]))
    for route in _walk(get_resolver().url_patterns):
        if (
            not route.reverse_name
            or not route.kwargs
            or getattr(route.callback, "model_admin", None)
        ):
            continue
        real = next(iter(_urls_for(route, rows)), None)
        try:
            fake = reverse(
                route.reverse_name, kwargs=dict.fromkeys(route.kwargs, str(uuid.uuid4()))
            )
        except NoReverseMatch:
            continue
        if real is None:
            continue
        assert client.get(real).status_code == client.get(fake).status_code, route.pattern


def _ws_routes() -> list[str]:
    from config.routing import websocket_urlpatterns

    return [str(p.pattern) for p in websocket_urlpatterns]


# The guided tablet's socket is mounted in config/asgi.py beside the staff routes (its own
# guard): walked as a route of its own.
DEVICE_SOCKET_ROUTE = f"{DEVICE_SOCKET_PREFIX}<uuid:public_id>/"


def _route_names(pattern: str) -> list[str]:
    return [a or b for a, b in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", pattern)]


def _fill(pattern: str, value: str) -> str:
    path = "/" + pattern.lstrip("/^").rstrip("$")
    return re.sub(r"<(?:\w+:)?\w+>|\(\?P<\w+>[^)]*\)", value, path)


async def _probe(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, list[str]]:
    """(accepted?, messages received) for a socket opened at ``path``."""
    from config.asgi import application

    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=3)
    received: list[str] = []
    if connected:
        # receive_nothing() waits without cancelling the consumer (a timed-out receive would).
        while not await comm.receive_nothing(timeout=0.5):
            received.append(json.dumps(await comm.receive_json_from()))
        await comm.disconnect()
    return connected, received


@pytest.fixture
def socket_world(two_orgs):
    """two_orgs, plus what organization B's staff and B's paired tablet send with a socket."""
    from patients.guided.tests.factories import paired_session

    rows = _rows_of(two_orgs["org_a"])
    b_session, b_raw, b_staff = paired_session(location=two_orgs["loc_b"])
    client = sign_in(Client(), two_orgs["admin_b"])
    staff_cookie = (
        f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    )
    origin = (b"origin", b"http://testserver")
    return {
        "markers": _markers(rows),
        "ids": sorted(
            {
                str(o.public_id)
                for objs in _first_of_each(rows).values()
                for o in objs
                if hasattr(o, "public_id")
            }
        ),
        "staff_headers": [(b"cookie", staff_cookie.encode()), origin],
        "b_staff": b_staff,
        "b_session": b_session,
        "device_headers": [
            (b"cookie", f"{DEVICE_COOKIE}={b_raw}; {staff_cookie}".encode()),
            origin,
        ],
    }


def _socket_walk(pattern: str, headers, ids: list[str], markers: set[str]) -> list[str]:
    problems: list[str] = []
    if not _route_names(pattern):
        connected, received = asyncio.run(_probe(_fill(pattern, ""), headers))
        problems += [f"{pattern} sent {m}" for m in markers if any(m in r for r in received)]
        return problems
    for value in ids:
        path = _fill(pattern, value)
        connected, received = asyncio.run(_probe(path, headers))
        if connected:
            problems.append(f"{path} accepted a socket for another organization's object")
        problems += [f"{path} sent {m}" for m in markers if any(m in r for r in received)]
    return problems


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pattern", _ws_routes())
def test_staff_socket_refuses_another_organizations_data(socket_world, pattern):
    problems = _socket_walk(
        pattern, socket_world["staff_headers"], socket_world["ids"], socket_world["markers"]
    )
    assert not problems, "\n".join(problems)


@pytest.mark.django_db(transaction=True)
def test_tablet_socket_refuses_another_organizations_sessions(socket_world):
    # Positive control: B's tablet opens its own session's socket at that path.
    own = device_socket_path(socket_world["b_session"].public_id)
    connected, _ = asyncio.run(_probe(own, socket_world["device_headers"]))
    assert connected, "the probe cannot open a tablet socket at all"
    problems = _socket_walk(
        DEVICE_SOCKET_ROUTE,
        socket_world["device_headers"],
        socket_world["ids"],
        socket_world["markers"],
    )
    assert not problems, "\n".join(problems)


@pytest.mark.django_db(transaction=True)
def test_the_socket_walk_would_see_an_accepted_socket(socket_world):
    """The walk's refusal check can fire: B's own guided session, at a route the walk fills,
    is accepted for B's staff."""
    from patients.guided.routing import websocket_urlpatterns as guided

    pattern = str(guided[0].pattern)
    client = sign_in(Client(), socket_world["b_staff"])
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    headers = [(b"cookie", cookie.encode()), (b"origin", b"http://testserver")]
    own = str(socket_world["b_session"].public_id)
    problems = _socket_walk(pattern, headers, [own], set())
    assert problems == [
        f"{_fill(pattern, own)} accepted a socket for another organization's object"
    ]


def test_walk_covers_every_project_model(two_orgs):
    """A new model must get a row for organization A above, or the walk would not test it."""
    rows = _rows_of(two_orgs["org_a"])
    missing = [
        m._meta.label
        for m in _project_models()
        if getattr(m, "tenant_organization_field", None) and m not in rows
    ]
    assert not missing, f"add organization-A rows for: {missing}"


def test_audit_rows_stay_inside_their_organization(two_orgs):
    assert AuditEvent.objects.filter(organization=two_orgs["org_a"]).exists()
    client = sign_in(Client(), two_orgs["admin_b"])
    response = client.get("/admin/clinic/auditevent/")
    assert response.status_code == 200
    assert "test.seed" not in response.content.decode()

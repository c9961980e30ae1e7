"""The activity-log page: ADMINs only, own organization only, filters, keyset paging."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.models import AuditEvent, Location, Organization, Role, User
from clinic.tests.factories import LocationFactory, MembershipFactory, UserFactory

URL = "/activity"


def _rows(
    organization: Organization,
    n: int,
    *,
    action: str = "test.recorded",
    actor: User | None = None,
    location: Location | None = None,
    object_type: str = "clinic.thing",
    object_id: str = "",
    occurred_at: datetime | None = None,
) -> list[AuditEvent]:
    """``n`` audit rows, oldest first; object ids "<prefix>-<i>" unless given."""
    when = occurred_at or timezone.now()
    return AuditEvent.objects.bulk_create(
        AuditEvent(
            organization=organization,
            actor=actor,
            location=location,
            action=action,
            object_type=object_type,
            object_id=object_id or f"{action}-{i}",
            occurred_at=when,
            ip="198.51.100.4",
        )
        for i in range(n)
    )


def _object_ids(response) -> list[str]:
    """The object ids shown in the table, top to bottom."""
    return re.findall(r"<code>([^<]+)</code></a>", response.content.decode())


@pytest.fixture
def admin(make_staff, location):
    return make_staff(role=Role.ADMIN, location=location, full_name="Ada Admin")


def test_the_page_is_named_clinic_activity():
    assert reverse("clinic:activity") == URL


def test_admin_sees_only_their_own_organizations_rows(admin, signed_in, location):
    _rows(location.organization, 2, action="mine.done")
    other = LocationFactory.create()
    _rows(other.organization, 2, action="theirs.done")
    response = signed_in(admin).get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "mine.done-0" in body and "mine.done-1" in body
    assert "theirs.done" not in body


def test_employee_gets_404_and_nothing_is_written(make_staff, signed_in, location):
    employee = make_staff(role=Role.EMPLOYEE, location=location)
    _rows(location.organization, 1, action="mine.done")
    client = signed_in(employee)
    before = AuditEvent.objects.count()
    response = client.get(URL)
    assert response.status_code == 404
    assert "mine.done" not in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_signed_out_visitor_is_sent_to_sign_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert "activity" not in response.url.split("?")[0]


def test_table_shows_time_in_org_timezone_actor_action_object_location_and_ip(
    admin, signed_in, location
):
    organization = location.organization
    organization.timezone = "America/Chicago"
    organization.save()
    _rows(
        organization,
        1,
        action="patient.viewed",
        actor=admin,
        location=location,
        object_type="patients.patient",
        object_id="7c1d0000-0000-4000-8000-000000000001",
        occurred_at=datetime(2025, 1, 15, 18, 30, tzinfo=UTC),
    )
    body = signed_in(admin).get(URL).content.decode()
    assert "15 Jan 2025, 12:30 CST" in body  # 18:30 UTC is 12:30 in Chicago in winter
    assert 'title="America/Chicago"' in body  # the zone's name on hover
    assert "Ada Admin" in body
    assert "patient.viewed" in body
    assert "patients.patient" in body and "7c1d0000-0000-4000-8000-000000000001" in body
    assert location.name in body
    assert "198.51.100.4" in body


def test_filter_by_user(admin, signed_in, location):
    colleague = UserFactory.create(organization=location.organization, full_name="Cole League")
    MembershipFactory.create(user=colleague, location=location)
    _rows(location.organization, 2, action="by.admin", actor=admin)
    _rows(location.organization, 2, action="by.colleague", actor=colleague)
    response = signed_in(admin).get(URL, {"actor": str(colleague.public_id)})
    ids = _object_ids(response)
    assert ids and all(i.startswith("by.colleague") for i in ids)
    assert "Cole League" in response.content.decode()  # offered in the user select


def test_user_filter_offers_only_own_organization(admin, signed_in, location):
    stranger = UserFactory.create(full_name="Stranger Danger")
    _rows(stranger.organization, 1, action="by.stranger", actor=stranger)
    client = signed_in(admin)
    assert "Stranger Danger" not in client.get(URL).content.decode()
    response = client.get(URL, {"actor": str(stranger.public_id)})
    assert "Choose a person from the list." in response.content.decode()
    assert "by.stranger" not in response.content.decode()


def test_filter_by_action_prefix(admin, signed_in, location):
    _rows(location.organization, 2, action="auth.login")
    _rows(location.organization, 1, action="auth.logout")
    _rows(location.organization, 2, action="patient.viewed")
    ids = _object_ids(signed_in(admin).get(URL, {"action": "auth."}))
    assert sorted(ids) == ["auth.login-0", "auth.login-1", "auth.logout-0"]


def test_filter_by_object(admin, signed_in, location):
    _rows(location.organization, 1, object_type="patients.patient", object_id="p-1")
    _rows(location.organization, 1, object_type="patients.patient", object_id="p-2")
    _rows(location.organization, 1, object_type="comms.message", object_id="p-1")
    client = signed_in(admin)
    assert _object_ids(
        client.get(URL, {"object_type": "patients.patient", "object_id": "p-1"})
    ) == ["p-1"]
    assert sorted(_object_ids(client.get(URL, {"object_type": "patients.patient"}))) == [
        "p-1",
        "p-2",
    ]


def test_filter_by_date_range_uses_whole_days_in_the_org_timezone(admin, signed_in, location):
    organization = location.organization
    organization.timezone = "America/New_York"
    organization.save()
    # 2025-03-10 03:30 UTC is still March 9 in New York.
    _rows(organization, 1, action="day.ninth", occurred_at=datetime(2025, 3, 10, 3, 30, tzinfo=UTC))
    _rows(organization, 1, action="day.tenth", occurred_at=datetime(2025, 3, 10, 15, 0, tzinfo=UTC))
    _rows(
        organization, 1, action="day.eleventh", occurred_at=datetime(2025, 3, 11, 15, 0, tzinfo=UTC)
    )
    client = signed_in(admin)
    ids = _object_ids(client.get(URL, {"date_from": "2025-03-10", "date_to": "2025-03-10"}))
    assert ids == ["day.tenth-0"]
    ids = _object_ids(client.get(URL, {"date_from": "2025-03-10"}))
    assert "day.ninth-0" not in ids and {"day.tenth-0", "day.eleventh-0"} <= set(ids)
    ids = _object_ids(client.get(URL, {"date_to": "2025-03-09"}))
    assert ids == ["day.ninth-0"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2025-13-45"}, "Enter a date like 2025-03-31."),
        ({"date_to": "yesterday"}, "Enter a date like 2025-03-31."),
        ({"date_from": "0001-01-01"}, "Enter a date between 1970 and 2999."),
        (
            {"date_from": "2025-03-10", "date_to": "2025-03-01"},
            "The “to” date must be on or after the “from” date.",
        ),
        ({"action": "auth'; drop"}, "letters, digits, dots and underscores only"),
        ({"before": "abc"}, "That page link is not valid."),
        ({"before": "5", "after": "3"}, "That page link is not valid."),
        ({"after": "99999999999999999999999"}, "That page link is not valid."),
    ],
)
def test_bad_filters_get_a_clear_message_not_a_500(admin, signed_in, location, params, message):
    _rows(location.organization, 1, action="mine.done")
    response = signed_in(admin).get(URL, params)
    assert response.status_code == 200
    body = response.content.decode()
    assert "There is a problem" in body
    assert message in body
    assert "mine.done-0" not in body  # no half-filtered results


def _follow(response, rel: str) -> str:
    """The URL of the page's "Newer" (prev) or "Older" (next) link; it must be there."""
    link = _link(response, rel)
    assert link is not None, f"no {rel} link"
    return URL + link


def _link(response, rel: str) -> str | None:
    match = re.search(rf'<a [^>]*href="(\?[^"]+)" rel="{rel}"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def test_keyset_paging_walks_every_row_once_in_both_directions(admin, signed_in, location):
    rows = _rows(location.organization, 120, action="page.row")
    _rows(location.organization, 5, action="other.row")  # filtered out on every page
    newest_first = [r.object_id for r in reversed(rows)]
    client = signed_in(admin)

    first = client.get(URL, {"action": "page."})
    assert _object_ids(first) == newest_first[:50]
    assert _link(first, "prev") is None
    older = _link(first, "next")
    assert older is not None and "action=page." in older and "before=" in older

    second = client.get(URL + older)
    assert _object_ids(second) == newest_first[50:100]
    third = client.get(_follow(second, "next"))
    assert _object_ids(third) == newest_first[100:]
    assert _link(third, "next") is None

    back = client.get(_follow(third, "prev"))
    assert "after=" in _follow(third, "prev")
    assert _object_ids(back) == newest_first[50:100]
    top = client.get(_follow(back, "prev"))
    assert _object_ids(top) == newest_first[:50]
    assert _link(top, "prev") is None


def test_no_exact_count_is_run(admin, signed_in, location):
    _rows(location.organization, 60)
    client = signed_in(admin)
    with CaptureQueriesContext(connection) as queries:
        client.get(URL)
    audit_queries = [q["sql"] for q in queries if "clinic_auditevent" in q["sql"]]
    assert audit_queries
    assert not any("COUNT(" in sql.upper() for sql in audit_queries)
    assert not any("OFFSET" in sql.upper() for sql in audit_queries)


def _page_queries(captured: CaptureQueriesContext) -> int:
    # Sessions live in a cache that parallel test runs may flush, so a session can cost an
    # extra read now and then; that is not the page's doing.
    return sum(1 for q in captured.captured_queries if "django_session" not in q["sql"])


def test_page_runs_the_same_number_of_queries_for_5_and_60_rows(admin, signed_in, location):
    organization = location.organization
    locations = [location, *LocationFactory.create_batch(2, organization=organization)]
    people = [admin, *UserFactory.create_batch(3, organization=organization)]
    client = signed_in(admin)
    client.get(URL)  # warm up the session

    def add(n: int) -> None:
        for i in range(n):
            _rows(organization, 1, actor=people[i % 4], location=locations[i % 3])

    add(5)
    with CaptureQueriesContext(connection) as few:
        assert len(_object_ids(client.get(URL))) == 5
    add(55)
    with CaptureQueriesContext(connection) as many:
        assert len(_object_ids(client.get(URL))) == 50
    assert _page_queries(few) == _page_queries(many)


def test_every_audit_query_is_scoped_to_the_organization_and_bounded(admin, location):
    from clinic.audit.selectors import ActivityFilters, activity_page

    _rows(location.organization, 60, actor=admin, action="auth.login")
    with CaptureQueriesContext(connection) as queries:
        activity_page(user=admin, filters=ActivityFilters(), before=10**12)
        activity_page(
            user=admin,
            filters=ActivityFilters(
                actor=admin, action="auth.", since=timezone.now() - timedelta(days=1)
            ),
        )
        activity_page(
            user=admin,
            filters=ActivityFilters(
                since=timezone.now() - timedelta(days=3), until=timezone.now() - timedelta(days=2)
            ),
        )
    audit_sql = [q["sql"] for q in queries if "clinic_auditevent" in q["sql"]]
    assert len(audit_sql) >= 5
    for sql in audit_sql:
        assert re.search(rf'organization_id"? = {location.organization_id}\b', sql), sql
        assert "LIMIT" in sql, sql


def test_action_prefix_that_matches_nothing_shows_no_rows(admin, signed_in, location):
    _rows(location.organization, 3, action="auth.login")
    _rows(LocationFactory.create().organization, 1, action="export.created")
    response = signed_in(admin).get(URL, {"action": "export."})
    assert response.status_code == 200
    assert _object_ids(response) == []
    assert "No activity matches." in response.content.decode()


def test_paging_a_past_date_window_reads_the_window_and_returns_the_right_rows(
    admin, signed_in, location
):
    organization = location.organization
    organization.timezone = "UTC"
    organization.save()
    march = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    _rows(organization, 10, action="before.window", occurred_at=march - timedelta(days=5))
    in_window = _rows(organization, 70, action="in.window", occurred_at=march)
    # Many newer rows: walking ids down from the newest would read them all first.
    _rows(organization, 150, action="after.window", occurred_at=march + timedelta(days=5))
    newest_first = [r.object_id for r in reversed(in_window)]
    client = signed_in(admin)
    params = {"date_from": "2025-03-10", "date_to": "2025-03-10"}

    with CaptureQueriesContext(connection) as queries:
        first = client.get(URL, params)
    assert any("+ 0) DESC" in q["sql"] for q in queries)  # the window-first plan ran
    assert _object_ids(first) == newest_first[:50]
    second = client.get(_follow(first, "next"))
    assert _object_ids(second) == newest_first[50:]
    assert _link(second, "next") is None
    back = client.get(_follow(second, "prev"))
    assert _object_ids(back) == newest_first[:50]
    assert _link(back, "prev") is None

"""The pointer commands' one-statement path (patients/guided/pointer.py) against the rules.

Two sessions are put in the same state; each command goes through ``pointer_apply`` on one
and through ``services.message_apply`` (the rules) on the other. Where the rules apply it, the
fast path must give the same ACK, the same events and the same row; where they refuse it, the
fast path must apply nothing and return None (the consumer then asks the rules).
``transaction=True``: the fast path has its own connection and sees only committed rows.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone

from patients.guided import protocol, services
from patients.guided.models import DeviceToken, GuidedSession, SessionMessage, SessionStatus
from patients.guided.pointer import pointer_apply
from patients.guided.services import models_q_idle

from .factories import paired_session
from .helpers import fill, new_id, ok, staff_do

pytestmark = pytest.mark.django_db(transaction=True)

ROW = ("version", "step", "steps_opened", "highlight", "focus", "status", "signature")


def _row(session: GuidedSession) -> dict[str, Any]:
    return GuidedSession.objects.filter(pk=session.pk).values(*ROW).get()


def _device_id(session: GuidedSession) -> int:
    return DeviceToken.objects.get(session=session, revoked_at__isnull=True).pk


def _fast(session: GuidedSession, role: str, message: dict[str, Any]) -> Any:
    return async_to_sync(pointer_apply)(
        session_id=session.pk,
        role=role,
        ctx=protocol.session_context(session.pk),
        message=message,
        device_id=_device_id(session) if role == "patient" else None,
    )


def _rules(session: GuidedSession, role: str, message: dict[str, Any]) -> Any:
    return protocol.collecting(
        services.message_apply,
        session_id=session.pk,
        role=role,
        message=message,
        actor=session.started_by if role == "staff" else None,
        device_id=_device_id(session) if role == "patient" else None,
    )


def _events(outgoing: protocol.Outgoing, session: GuidedSession) -> list[Any]:
    assert {group for group, _ in outgoing} == {protocol.session_group(session.pk)}
    return [sides for _, sides in outgoing]


@pytest.fixture
def twins():
    """Two paired sessions of one staff member, in the same state, with the patient's identity
    answered (steps "identity" open)."""
    first, _, staff = paired_session()
    second, _, _ = paired_session(staff=staff, location=first.location)
    for session in (first, second):
        fill(session, {"first_name": "Ana"})
    return first, second


def _same_effect(twins: tuple[GuidedSession, GuidedSession], role: str, **fields: Any) -> None:
    fast_session, rules_session = twins
    client_id = new_id()
    message = {"id": client_id, **fields}
    applied = _fast(fast_session, role, message)
    assert applied is not None, "the fast path refused a command the rules apply"
    reply, outgoing = applied.reply, applied.outgoing
    rules_reply, rules_outgoing = _rules(rules_session, role, message)
    assert reply == rules_reply
    assert reply["type"] == "ACK" and reply["duplicate"] is False
    assert _events(outgoing, fast_session) == _events(rules_outgoing, rules_session)
    assert _row(fast_session) == _row(rules_session)
    ledger = SessionMessage.objects.get(session=fast_session, client_id=client_id)
    assert (ledger.type, ledger.role, ledger.version) == (fields["type"], role, reply["version"])


def _no_effect(session: GuidedSession, role: str, **fields: Any) -> None:
    before = _row(session)
    client_id = new_id()
    assert _fast(session, role, {"id": client_id, **fields}) is None
    assert _row(session) == before
    assert not SessionMessage.objects.filter(session=session, client_id=client_id).exists()


def test_staff_pointer_commands_have_the_rules_effect(twins):
    _same_effect(twins, "staff", type="HIGHLIGHT_FIELD", field="last_name")
    _same_effect(twins, "staff", type="NAVIGATE", step="demographics")  # opens it, clears
    _same_effect(twins, "staff", type="HIGHLIGHT_FIELD", field="city")
    _same_effect(twins, "staff", type="CLEAR_HIGHLIGHT")
    _same_effect(twins, "staff", type="NAVIGATE", step="identity")  # back: opened stays one
    _same_effect(twins, "staff", type="NAVIGATE", step="demographics")
    fast, _ = twins
    assert _row(fast)["steps_opened"] == ["identity", "demographics"]


def test_patient_focus_has_the_rules_effect(twins):
    _same_effect(twins, "patient", type="FIELD_FOCUS", field="last_name")
    _same_effect(twins, "patient", type="FIELD_FOCUS", field=None)
    for session in twins:
        ok(staff_do(session, session.started_by, "NAVIGATE", step="demographics"))
    _same_effect(twins, "patient", type="FIELD_FOCUS", field="city")


def test_what_the_rules_refuse_the_fast_path_leaves_alone(twins):
    session, _ = twins
    _no_effect(session, "staff", type="NAVIGATE", step="nowhere")
    _no_effect(session, "staff", type="HIGHLIGHT_FIELD", field="city")  # not on this step
    _no_effect(session, "staff", type="HIGHLIGHT_FIELD", field="no_such_field")
    _no_effect(session, "patient", type="FIELD_FOCUS", field="city")  # step not opened
    _no_effect(session, "patient", type="FIELD_FOCUS", field="")
    _no_effect(session, "patient", type="NAVIGATE", step="demographics")  # wrong role
    _no_effect(session, "staff", type="FIELD_FOCUS", field="first_name")  # wrong role
    _no_effect(session, "staff", type="NAVIGATE")  # no step
    _no_effect(session, "staff", type="FIELD_CHANGED", field="first_name", value="x")
    assert _fast(session, "staff", {"type": "CLEAR_HIGHLIGHT", "id": "bad id!"}) is None
    # Values of the wrong type go to the rules too (which answer "invalid"), never a crash.
    _no_effect(session, "staff", type="NAVIGATE", step=["demographics"])
    _no_effect(session, "staff", type="HIGHLIGHT_FIELD", field={"name": "last_name"})
    _no_effect(session, "patient", type="FIELD_FOCUS", field=7)
    assert (
        _rules(session, "staff", {"type": "NAVIGATE", "step": [1], "id": new_id()})[0]["code"]
        == "invalid"
    )


def test_no_navigation_while_a_signature_is_requested(twins):
    session, _ = twins
    GuidedSession.objects.filter(pk=session.pk).update(
        signature={"document": "privacy", "status": "requested"}
    )
    _no_effect(session, "staff", type="NAVIGATE", step="demographics")
    # Pointing at a field is still allowed while the patient signs.
    assert _fast(session, "staff", {"type": "CLEAR_HIGHLIGHT", "id": new_id()}) is not None


def test_a_resent_message_applies_once(twins):
    session, _ = twins
    message = {"type": "HIGHLIGHT_FIELD", "field": "last_name", "id": new_id()}
    reply = _fast(session, "staff", message).reply
    assert _fast(session, "staff", message) is None  # the rules then say "duplicate"
    assert _rules(session, "staff", message)[0] == {
        "type": "ACK",
        "id": message["id"],
        "version": reply["version"],
        "duplicate": True,
    }
    assert SessionMessage.objects.filter(session=session, client_id=message["id"]).count() == 1


def test_an_ended_session_or_a_let_go_device_changes_nothing(twins):
    first, second = twins
    GuidedSession.objects.filter(pk=first.pk).update(status=SessionStatus.ENDED)
    _no_effect(first, "staff", type="CLEAR_HIGHLIGHT")
    before = _row(second)
    device = _device_id(second)
    DeviceToken.objects.filter(pk=device).update(revoked_at=timezone.now())
    applied = async_to_sync(pointer_apply)(
        session_id=second.pk,
        role="patient",
        ctx=protocol.session_context(second.pk),
        message={"type": "FIELD_FOCUS", "field": "first_name", "id": new_id()},
        device_id=device,
    )
    assert applied is None and _row(second) == before


def test_pointer_commits_do_not_wait_for_the_disk(twins):
    from clinic.asyncdb import connect_settings
    from patients.guided.pointer import CONNECTIONS

    assert "synchronous_commit=off" in connect_settings(**CONNECTIONS.extra)["options"]

    async def setting() -> str:
        async with CONNECTIONS.connection() as conn:
            cursor = await conn.execute("SHOW synchronous_commit")
            row = await cursor.fetchone()
            return str(row[0])

    assert async_to_sync(setting)() == "off"
    with connection.cursor() as cursor:  # Django's own connections are untouched
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_the_listeners_are_every_socket_the_row_knows_or_unknown():
    from patients.guided.models import PRESENCE_CHANNELS_KEPT
    from patients.guided.pointer import listeners

    both = {"staff": {"channels": ["a", "b"]}, "patient": {"channels": ["c"]}}
    assert listeners(both) == {"a", "b", "c"}
    assert listeners({}) == frozenset()
    full = {"staff": {"channels": [f"s{i}" for i in range(PRESENCE_CHANNELS_KEPT)]}}
    assert listeners(full) is None  # the oldest may have been dropped: publish
    assert listeners({"staff": {"status": "connected"}}) is None
    assert listeners(None) is None


def test_the_fast_path_reports_the_sockets_the_session_row_lists(twins):
    from patients.guided.services import presence_update

    session, _ = twins
    presence_update(session_id=session.pk, role="staff", channel="chan-staff", joined=True)
    presence_update(session_id=session.pk, role="patient", channel="chan-tablet", joined=True)
    applied = _fast(session, "staff", {"type": "CLEAR_HIGHLIGHT", "id": new_id()})
    assert applied.listeners == {"chan-staff", "chan-tablet"}


# What the commands write into a session's row, several times a second.
WRITTEN = {
    "step",
    "steps_opened",
    "steps_ready",
    "highlight",
    "focus",
    "presence",
    "version",
    "values_encrypted",
    "uploads",
    "consents",
    "signature",
    "last_activity_at",
    "updated_at",
}


def test_no_index_holds_a_column_the_commands_write() -> None:
    # Then PostgreSQL updates the row in place (HOT) instead of adding to every index each time.
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, GuidedSession._meta.db_table)
        cursor.execute(
            "SELECT pg_get_expr(indpred, indrelid) FROM pg_index"
            " WHERE indrelid = %s::regclass AND indpred IS NOT NULL",
            [GuidedSession._meta.db_table],
        )
        predicates = [row[0] for row in cursor.fetchall()]
    indexed = {
        column
        for index in indexes.values()
        if (index["index"] or index["unique"] or index["primary_key"]) and not index["check"]
        for column in index["columns"] or ()
    }
    assert indexed >= {"id", "status", "location_id"}  # the introspection sees them
    assert not indexed & WRITTEN
    assert predicates and not any(column in p for p in predicates for column in WRITTEN)


def test_the_idle_job_reaches_active_sessions_through_the_partial_index() -> None:
    paired_session()
    query = GuidedSession.objects.filter(status=SessionStatus.ACTIVE).filter(
        models_q_idle(timezone.now())
    )
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a test table is small enough to scan
        try:
            plan = query.explain()
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "guided_session_active" in plan

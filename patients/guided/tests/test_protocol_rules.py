"""Every command against every role and state, through ``services.message_apply`` (the one
entry point both sockets use). Refused commands must leave the session exactly as it was:
same version, same state, no ledger row."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from patients.guided import protocol, services
from patients.guided.models import GuidedSession, SessionMessage, SessionStatus
from patients.guided.services import guided_session_end, upload_add

from .factories import jpeg_file, paired_session, payer_for
from .helpers import (
    IDENTITY,
    fill,
    new_id,
    ok,
    patient_do,
    sign,
    staff_do,
    walk_to_signatures,
)

pytestmark = pytest.mark.django_db

STAFF_COMMANDS: dict[str, dict[str, Any]] = {
    "NAVIGATE": {"step": "demographics"},
    "HIGHLIGHT_FIELD": {"field": "first_name"},
    "CLEAR_HIGHLIGHT": {},
    "REQUEST_SIGNATURE": {"document": "privacy"},
    "WITHDRAW_SIGNATURE": {},
    "END_SESSION": {},
    "COMPLETE": {},
}
PATIENT_COMMANDS: dict[str, dict[str, Any]] = {
    "FIELD_CHANGED": {"field": "first_name", "value": "Ana"},
    "FIELD_FOCUS": {"field": "first_name"},
    "DOCUMENT_UPLOADED": {"slot": "id_front", "upload": "00000000-0000-0000-0000-000000000000"},
    "CONSENT_ACKNOWLEDGED": {"consent": "privacy", "scrolled_to_end": True},
    "SIGNATURE_SUBMITTED": {
        "document": "privacy",
        "signature": "00000000-0000-0000-0000-000000000000",
    },
    "STEP_READY": {"step": "identity"},
}


def fingerprint(session: GuidedSession) -> tuple[Any, ...]:
    s = GuidedSession.objects.get(pk=session.pk)
    return (
        s.version,
        s.status,
        s.step,
        s.steps_opened,
        s.values,
        s.uploads,
        s.consents,
        s.signature,
        s.highlight,
        s.focus,
        SessionMessage.objects.filter(session=s).count(),
    )


def assert_refused(session: GuidedSession, reply: dict[str, Any], code: str) -> None:
    assert reply["type"] == "ERROR", reply
    assert reply["code"] == code, reply
    assert reply["message"]


@pytest.fixture
def paired():
    return paired_session()


@pytest.mark.parametrize("kind", sorted(STAFF_COMMANDS))
def test_staff_commands_from_the_patient_are_refused_without_effect(paired, kind):
    session, _raw, _staff = paired
    before = fingerprint(session)
    reply = patient_do(session, kind, **STAFF_COMMANDS[kind])
    assert_refused(session, reply, "not_allowed")
    assert "staff" in reply["message"]
    assert fingerprint(session) == before


@pytest.mark.parametrize("kind", sorted(PATIENT_COMMANDS))
def test_patient_commands_from_staff_are_refused_without_effect(paired, kind):
    session, _raw, staff = paired
    before = fingerprint(session)
    reply = staff_do(session, staff, kind, **PATIENT_COMMANDS[kind])
    assert_refused(session, reply, "not_allowed")
    assert fingerprint(session) == before


@pytest.mark.parametrize(
    ("role", "kind"),
    [("staff", k) for k in sorted(STAFF_COMMANDS)]
    + [("patient", k) for k in sorted(PATIENT_COMMANDS)],
)
def test_every_command_after_the_session_ended_is_refused(paired, role, kind):
    session, _raw, staff = paired
    guided_session_end(actor=staff, session_id=session.pk)
    before = fingerprint(session)
    fields = (STAFF_COMMANDS if role == "staff" else PATIENT_COMMANDS)[kind]
    reply = (
        staff_do(session, staff, kind, **fields)
        if role == "staff"
        else services.message_apply(
            session_id=session.pk,
            role="patient",
            message={"type": kind, "id": new_id(), **fields},
            device_id=session.tokens.first().pk,
        )
    )
    assert reply["type"] == "ERROR"
    assert reply["code"] in ("wrong_state", "not_found")
    assert fingerprint(session) == before


@pytest.mark.parametrize(
    "message",
    [
        "not an object",
        {"type": "NAVIGATE", "step": "demographics"},  # no id
        {"type": "NAVIGATE", "id": "short", "step": "demographics"},
        {"type": "NAVIGATE", "id": "bad id with spaces", "step": "demographics"},
        {"type": "DANCE", "id": "abcdefgh-1"},
        {"id": "abcdefgh-2"},
    ],
)
def test_malformed_messages_are_refused(paired, message):
    session, _raw, staff = paired
    before = fingerprint(session)
    reply = services.message_apply(
        session_id=session.pk, role="staff", message=message, actor=staff
    )
    assert_refused(session, reply, "bad_message")
    assert fingerprint(session) == before


def test_a_message_applied_twice_has_one_effect(paired):
    session, _raw, staff = paired
    first = ok(staff_do(session, staff, "NAVIGATE", step="demographics", id="same-id-0001"))
    ok(staff_do(session, staff, "NAVIGATE", step="identity"))
    again = ok(staff_do(session, staff, "NAVIGATE", step="demographics", id="same-id-0001"))
    assert again["duplicate"] is True and first["duplicate"] is False
    session.refresh_from_db()
    assert session.step == "identity"  # the resent NAVIGATE did not apply again
    assert session.version == 2
    assert SessionMessage.objects.filter(session=session, client_id="same-id-0001").count() == 1


def test_every_applied_change_bumps_the_version_by_one(paired):
    session, _raw, staff = paired
    start = GuidedSession.objects.get(pk=session.pk).version
    versions = [
        ok(staff_do(session, staff, "HIGHLIGHT_FIELD", field="last_name"))["version"],
        ok(patient_do(session, "FIELD_FOCUS", field="last_name"))["version"],
        ok(patient_do(session, "FIELD_CHANGED", field="last_name", value="Li"))["version"],
        ok(staff_do(session, staff, "CLEAR_HIGHLIGHT"))["version"],
    ]
    assert versions == [start + 1, start + 2, start + 3, start + 4]


def test_navigate_opens_the_step_and_clears_the_highlight(paired):
    session, _raw, staff = paired
    ok(staff_do(session, staff, "HIGHLIGHT_FIELD", field="first_name"))
    ok(staff_do(session, staff, "NAVIGATE", step="insurance"))
    session.refresh_from_db()
    assert session.step == "insurance"
    assert session.steps_opened == ["identity", "insurance"]
    assert session.highlight == ""


@pytest.mark.parametrize("step", ["done", "nowhere", None, 3])
def test_navigate_to_a_step_that_is_not_navigable_is_refused(paired, step):
    session, _raw, staff = paired
    before = fingerprint(session)
    assert_refused(session, staff_do(session, staff, "NAVIGATE", step=step), "invalid")
    assert fingerprint(session) == before


def test_patient_cannot_type_into_a_step_staff_did_not_open(paired):
    session, _raw, _staff = paired
    before = fingerprint(session)
    reply = patient_do(session, "FIELD_CHANGED", field="member_id", value="X1")
    assert_refused(session, reply, "step_not_open")
    assert fingerprint(session) == before
    assert_refused(session, patient_do(session, "FIELD_FOCUS", field="email"), "step_not_open")


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("favourite_colour", "blue", "invalid"),
        ("first_name", "x" * 101, "invalid"),
        ("first_name", 42, "invalid"),
        ("first_name", None, "invalid"),
    ],
)
def test_field_changes_that_cannot_be_stored_are_refused(paired, field, value, code):
    session, _raw, _staff = paired
    before = fingerprint(session)
    assert_refused(session, patient_do(session, "FIELD_CHANGED", field=field, value=value), code)
    assert fingerprint(session) == before


def test_input_is_saved_as_typed_even_when_not_yet_valid(paired):
    session, _raw, _staff = paired
    ok(patient_do(session, "FIELD_CHANGED", field="date_of_birth", value="1958-03"))
    session.refresh_from_db()
    assert session.values["date_of_birth"] == "1958-03"
    state = protocol.session_snapshot(session_id=session.pk, role="staff")["state"]
    assert state["steps"]["identity"]["errors"] == {
        "date_of_birth": "Enter a date such as 1970-04-30."
    }


def test_staff_navigation_wins_and_keeps_what_the_patient_typed(paired):
    session, _raw, staff = paired
    ok(patient_do(session, "FIELD_CHANGED", field="first_name", value="An"))
    ok(staff_do(session, staff, "NAVIGATE", step="demographics"))
    # The patient's debounced keystroke arrives after the staff moved on: kept, step unchanged.
    ok(patient_do(session, "FIELD_CHANGED", field="first_name", value="Ana"))
    session.refresh_from_db()
    assert session.step == "demographics"
    assert session.values["first_name"] == "Ana"


def test_highlight_only_fields_of_the_current_step(paired):
    session, _raw, staff = paired
    before = fingerprint(session)
    assert_refused(
        session, staff_do(session, staff, "HIGHLIGHT_FIELD", field="member_id"), "invalid"
    )
    assert_refused(session, staff_do(session, staff, "HIGHLIGHT_FIELD", field="nope"), "invalid")
    assert fingerprint(session) == before
    ok(staff_do(session, staff, "HIGHLIGHT_FIELD", field="date_of_birth"))
    assert GuidedSession.objects.get(pk=session.pk).highlight == "date_of_birth"


def test_step_ready_checks_the_step_and_reports_fields(paired):
    session, _raw, _staff = paired
    before = fingerprint(session)
    reply = patient_do(session, "STEP_READY", step="identity")
    assert_refused(session, reply, "validation")
    assert reply["step"] == "identity"
    assert set(reply["fields"]) == {"first_name", "last_name", "date_of_birth"}
    assert fingerprint(session) == before
    assert_refused(session, patient_do(session, "STEP_READY", step="insurance"), "invalid")
    fill(session, IDENTITY)
    ok(patient_do(session, "STEP_READY", step="identity"))
    state = protocol.session_snapshot(session_id=session.pk, role="staff")["state"]
    assert state["steps"]["identity"]["ready"] is True
    # Changing an answer of a ready step makes it not ready again.
    ok(patient_do(session, "FIELD_CHANGED", field="first_name", value="Anna"))
    state = protocol.session_snapshot(session_id=session.pk, role="staff")["state"]
    assert state["steps"]["identity"]["ready"] is False


def test_consents_must_be_opened_and_read_to_the_end(paired):
    session, _raw, staff = paired
    before = fingerprint(session)
    reply = patient_do(session, "CONSENT_ACKNOWLEDGED", consent="privacy", scrolled_to_end=True)
    assert_refused(session, reply, "step_not_open")
    ok(staff_do(session, staff, "NAVIGATE", step="consents"))
    before = fingerprint(session)
    assert_refused(
        session, patient_do(session, "CONSENT_ACKNOWLEDGED", consent="privacy"), "invalid"
    )
    assert_refused(
        session,
        patient_do(session, "CONSENT_ACKNOWLEDGED", consent="madeup", scrolled_to_end=True),
        "invalid",
    )
    assert fingerprint(session) == before
    ok(patient_do(session, "CONSENT_ACKNOWLEDGED", consent="privacy", scrolled_to_end=True))
    assert GuidedSession.objects.get(pk=session.pk).consents["privacy"]["acknowledged"] is True


def test_document_uploaded_must_name_an_upload_of_this_session_and_slot(paired):
    session, _raw, staff = paired
    other, _, _ = paired_session()
    ok(staff_do(other, other.started_by, "NAVIGATE", step="id_document"))
    foreign = upload_add(device=other.tokens.get(), slot="id_front", file=jpeg_file())
    ok(staff_do(session, staff, "NAVIGATE", step="id_document"))
    mine = upload_add(device=session.tokens.get(), slot="id_front", file=jpeg_file())
    before = fingerprint(session)
    for slot, upload in (
        ("id_front", str(foreign.public_id)),
        ("id_back", str(mine.public_id)),
        ("id_front", "not-a-uuid"),
        ("passport", str(mine.public_id)),
    ):
        reply = patient_do(session, "DOCUMENT_UPLOADED", slot=slot, upload=upload)
        assert_refused(session, reply, "invalid")
    assert fingerprint(session) == before
    ok(patient_do(session, "DOCUMENT_UPLOADED", slot="id_front", upload=str(mine.public_id)))
    assert GuidedSession.objects.get(pk=session.pk).uploads["id_front"]["upload"] == str(
        mine.public_id
    )


def test_signature_requests_follow_the_rules(paired):
    session, _raw, staff = paired
    # Not on the signatures step yet.
    assert_refused(
        session, staff_do(session, staff, "REQUEST_SIGNATURE", document="privacy"), "wrong_state"
    )
    walk_to_signatures(session, staff)
    before = fingerprint(session)
    assert_refused(
        session, staff_do(session, staff, "REQUEST_SIGNATURE", document="nope"), "invalid"
    )
    # "communications" needs no signature.
    assert_refused(
        session, staff_do(session, staff, "REQUEST_SIGNATURE", document="communications"), "invalid"
    )
    assert_refused(session, staff_do(session, staff, "WITHDRAW_SIGNATURE"), "wrong_state")
    assert fingerprint(session) == before

    ok(staff_do(session, staff, "REQUEST_SIGNATURE", document="privacy"))
    # Signing mode: one request at a time, no navigation, no step-ready, no acknowledgement.
    before = fingerprint(session)
    assert_refused(
        session, staff_do(session, staff, "REQUEST_SIGNATURE", document="treatment"), "wrong_state"
    )
    assert_refused(session, staff_do(session, staff, "NAVIGATE", step="review"), "wrong_state")
    assert_refused(session, patient_do(session, "STEP_READY", step="signatures"), "wrong_state")
    assert_refused(
        session,
        patient_do(session, "SIGNATURE_SUBMITTED", document="treatment", signature="x" * 8),
        "wrong_state",
    )
    assert fingerprint(session) == before
    ok(staff_do(session, staff, "WITHDRAW_SIGNATURE"))
    assert GuidedSession.objects.get(pk=session.pk).signature == {
        "document": None,
        "status": "idle",
    }
    sign(session, staff, "privacy")
    assert_refused(
        session, staff_do(session, staff, "REQUEST_SIGNATURE", document="privacy"), "wrong_state"
    )


def test_sensitive_values_are_masked_for_staff_only(paired):
    session, _raw, staff = paired
    payer = payer_for(session)
    ok(staff_do(session, staff, "NAVIGATE", step="insurance"))
    fill(
        session, {"has_insurance": "yes", "payer": str(payer.public_id), "member_id": "XZ99887766"}
    )
    fill(session, {"group_number": "G12"})
    staff_state = protocol.session_snapshot(session_id=session.pk, role="staff")["state"]
    patient_state = protocol.session_snapshot(session_id=session.pk, role="patient")["state"]
    assert staff_state["values"]["member_id"] == "\u2022" * 6 + "7766"
    assert staff_state["values"]["group_number"] == "\u2022\u2022\u2022"
    assert "XZ99887766" not in str(staff_state)
    assert patient_state["values"]["member_id"] == "XZ99887766"


def test_snapshot_carries_definition_and_state(paired):
    session, _raw, _staff = paired
    snap = protocol.session_snapshot(session_id=session.pk, role="patient")
    assert snap["type"] == "SNAPSHOT" and snap["role"] == "patient"
    assert [s["key"] for s in snap["definition"]["steps"]][:2] == ["identity", "demographics"]
    assert {c["key"] for c in snap["definition"]["consents"]} == {
        "privacy",
        "treatment",
        "communications",
    }
    assert set(snap["state"]) == set(protocol.STATE_KEYS)


def test_end_session_revokes_the_device(paired):
    session, _raw, staff = paired
    ok(staff_do(session, staff, "END_SESSION"))
    session.refresh_from_db()
    assert session.status == SessionStatus.ENDED
    assert session.tokens.filter(revoked_at__isnull=True).count() == 0


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def test_answers_wait_for_the_disk_and_pointer_moves_do_not(paired):
    # The test runs in one transaction, so a SET LOCAL made by a command stays visible here.
    session, _raw, staff = paired
    assert _synchronous_commit() == "on"
    ok(patient_do(session, "FIELD_CHANGED", field="first_name", value="Ana"))
    assert _synchronous_commit() == "on"  # what the patient answered is durable at ACK
    assert_refused(session, staff_do(session, staff, "HIGHLIGHT_FIELD", field="city"), "invalid")
    assert _synchronous_commit() == "on"  # a refused command leaves nothing behind
    ok(staff_do(session, staff, "HIGHLIGHT_FIELD", field="last_name"))
    assert _synchronous_commit() == "off"

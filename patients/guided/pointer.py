"""The pointer commands (NAVIGATE, HIGHLIGHT_FIELD, CLEAR_HIGHLIGHT, FIELD_FOCUS) in one SQL
statement each, on the socket's own event loop.

These are most of what a staff tablet sends, and they only move where the screens point. Each
is one conditional UPDATE that checks the session state the rule in protocol.py checks, bumps
the version and writes the ledger row (client message id) in the same statement, so it needs no
worker thread, no ORM and one round trip (``clinic.asyncdb``, commits without waiting for the
disk as protocol.POINTER_ONLY says).

When the statement changes nothing (the session ended, the step moved, the device was let go,
the message was applied before, or anything unexpected), ``pointer_apply`` returns ``None`` and
the consumer hands the message to ``services.message_apply``, which says why with the same
words as always. protocol.py stays the one description of the rules; the tests apply every
pointer command both ways and compare rows and events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import psycopg
from psycopg import sql

from clinic.asyncdb import PerLoop

from .models import (
    PRESENCE_CHANNELS_KEPT,
    DeviceToken,
    GuidedSession,
    SessionMessage,
    SessionStatus,
)
from .protocol import (
    POINTER_ONLY,
    STAFF,
    Context,
    Outgoing,
    Refused,
    applied_messages,
    envelope_check,
    field_step,
)
from .steps import NAVIGABLE

log = logging.getLogger(__name__)

CONNECTIONS = PerLoop(options="-c synchronous_commit=off")

_STATEMENT = """
WITH applied AS (
    UPDATE {session} AS s
       SET {changes}, version = s.version + 1, last_activity_at = now(), updated_at = now()
     WHERE s.id = %(session)s
       AND s.status = %(active)s
       AND NOT EXISTS (
           SELECT 1 FROM {ledger} AS m
            WHERE m.session_id = %(session)s AND m.client_id = %(client_id)s
       )
       {condition}
 RETURNING s.id, s.version, s.step, s.steps_opened, s.highlight, s.focus, s.presence
), ledger AS (
    INSERT INTO {ledger} (session_id, client_id, type, role, version, created_at)
    SELECT id, %(client_id)s, %(type)s, %(role)s, version, now() FROM applied
)
SELECT version, step, steps_opened, highlight, focus, presence FROM applied
"""


def _statement(changes: str, condition: str = "") -> str:
    # Rendered once, here: composing it on every call cost a quarter of the command's time.
    return (
        sql.SQL(_STATEMENT)
        .format(
            session=sql.Identifier(GuidedSession._meta.db_table),
            ledger=sql.Identifier(SessionMessage._meta.db_table),
            changes=sql.SQL(changes),
            condition=sql.SQL(condition).format(device=sql.Identifier(DeviceToken._meta.db_table)),
        )
        .as_string()
    )


# What each command changes and when it may (protocol.py: _navigate, _highlight,
# _clear_highlight, _field_focus and the patient's device check in message_apply).
_NAVIGATE = _statement(
    "step = %(step)s::text,"
    " steps_opened = CASE WHEN s.steps_opened ? %(step)s::text THEN s.steps_opened"
    " ELSE s.steps_opened || jsonb_build_array(%(step)s::text) END,"
    " highlight = ''",
    "AND coalesce(s.signature ->> 'status', 'idle') <> 'requested'",
)
_HIGHLIGHT = _statement("highlight = %(field)s", "AND s.step = %(field_step)s")
_CLEAR_HIGHLIGHT = _statement("highlight = ''")
_FOCUS = _statement(
    "focus = %(focus)s",
    "AND (%(field_step)s::text IS NULL OR s.steps_opened ? %(field_step)s::text)"
    " AND EXISTS (SELECT 1 FROM {device} AS d WHERE d.id = %(device)s"
    " AND d.session_id = s.id AND d.revoked_at IS NULL)",
)


@dataclass(frozen=True)
class Applied:
    reply: dict[str, Any]  # the ACK
    outgoing: Outgoing  # the events, to send now that it is committed
    listeners: frozenset[str] | None  # every socket's channel, None if not known for sure


@dataclass(frozen=True)
class _Plan:
    statement: str
    params: dict[str, Any]
    echo: dict[str, Any]
    changed: set[str]


def _plan(kind: str, ctx: Context, message: dict[str, Any], device_id: int | None) -> _Plan | None:
    """The statement for a well-formed pointer command, or None when the rule would refuse it
    whatever the session's state (the full path then says why)."""
    if kind == "NAVIGATE":
        step = message.get("step")
        if step not in NAVIGABLE:
            return None
        return _Plan(
            _NAVIGATE, {"step": step}, {"step": step}, {"step", "steps_opened", "highlight"}
        )
    if kind == "HIGHLIGHT_FIELD":
        name = message.get("field")
        step = field_step(ctx, name)
        if step is None:
            return None
        return _Plan(
            _HIGHLIGHT, {"field": name, "field_step": step}, {"field": name}, {"highlight"}
        )
    if kind == "CLEAR_HIGHLIGHT":
        return _Plan(_CLEAR_HIGHLIGHT, {}, {}, {"highlight"})
    if kind == "FIELD_FOCUS" and device_id is not None:
        name = message.get("field")
        step = None if name is None else field_step(ctx, name)
        if name is not None and step is None:
            return None
        return _Plan(
            _FOCUS,
            {"focus": name or "", "field_step": step, "device": device_id},
            {"field": name},
            {"focus"},
        )
    return None


async def pointer_apply(
    *,
    session_id: int,
    role: str,
    ctx: Context,
    message: Any,
    device_id: int | None = None,
) -> Applied | None:
    """Apply a pointer command, or None when this path did not apply it
    (``services.message_apply`` then decides)."""
    if not isinstance(message, dict) or message.get("type") not in POINTER_ONLY:
        return None
    try:
        kind, client_id = envelope_check(message, role)
    except Refused:
        return None
    plan = _plan(kind, ctx, message, None if role == STAFF else device_id)
    if plan is None:
        return None
    params = {
        **plan.params,
        "session": session_id,
        "active": SessionStatus.ACTIVE.value,
        "client_id": client_id,
        "type": kind,
        "role": role,
    }
    try:
        async with CONNECTIONS.connection() as conn:
            cursor = await conn.execute(plan.statement, params)
            row = await cursor.fetchone()
    except psycopg.Error as exc:  # a resend racing its twin, a lost connection: the full path
        log.warning("guided pointer command fell back: %s", type(exc).__name__)
        return None
    if row is None:
        return None
    version, step, steps_opened, highlight, focus, presence = row
    # The columns the events show, without a model instance (its defaults cost more here).
    session = SimpleNamespace(
        pk=session_id,
        version=version,
        step=step,
        steps_opened=steps_opened,
        highlight=highlight,
        focus=focus,
    )
    outgoing = applied_messages(
        cast(GuidedSession, session),
        ctx,
        type=kind,
        by=role,
        client_id=client_id,
        echo=plan.echo,
        changed=plan.changed,
    )
    return Applied(
        {"type": "ACK", "id": client_id, "version": version, "duplicate": False},
        outgoing,
        listeners(presence),
    )


def listeners(presence: Any) -> frozenset[str] | None:
    """The channels of every socket of the session as its row knew them when the command
    committed (``services.presence_update`` keeps them under the same row lock), or None when
    the list may be incomplete. A socket that joins later reads a snapshot taken after it."""
    if not isinstance(presence, dict):
        return None
    out: set[str] = set()
    for entry in presence.values():
        channels = entry.get("channels") if isinstance(entry, dict) else None
        if not isinstance(channels, list) or len(channels) >= PRESENCE_CHANNELS_KEPT:
            return None
        out.update(c for c in channels if isinstance(c, str))
    return frozenset(out)

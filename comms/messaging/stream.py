"""The comms realtime stream: one per organization, carrying ids only (open pages re-read what
changed through their scoped views). Registered in ``CommsConfig.ready``."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from clinic.events.services import event_record
from clinic.realtime.services import group_name, stream_bump, stream_version

if TYPE_CHECKING:
    from clinic.models import User
    from comms.models import Message

STREAM = "comms"


def comms_stream_key(organization_id: int) -> str:
    return f"comms.org.{organization_id}"


def comms_group(organization_id: int) -> str:
    return group_name("comms-org", organization_id)


def comms_snapshot(user: User) -> dict[str, Any]:
    """The stream carries ids only; pages re-read what changed through their scoped views."""
    return {"version": stream_version(comms_stream_key(user.organization_id or 0))}


def comms_groups(user: User) -> list[str]:
    return [comms_group(user.organization_id)] if user.organization_id else []


def comms_publish(*, message: Message, change: str, event: str = "comms.message_changed") -> None:
    """Tell open pages (after commit, via the outbox) that ``message`` changed. Ids only."""
    version = stream_bump(comms_stream_key(message.organization_id))
    payload: dict[str, Any] = {"message": str(message.public_id)}
    realtime = {
        "type": "comms.changed",
        "stream": STREAM,
        "version": version,
        "change": change,
        "message": str(message.public_id),
        "status": message.status,
        "patient": str(message.patient.public_id) if message.patient else None,
        "conversation": str(message.conversation.public_id) if message.conversation else None,
    }
    event_record(
        name=event,
        organization=message.organization,
        aggregate=message,
        payload=payload,
        realtime=[(comms_group(message.organization_id), realtime)],
    )


def messages_publish(messages: list[Message], *, change: str) -> None:
    """Tell open pages that ``messages`` changed: one stream bump and one outbox event per
    organization, listing the messages and their patients (ids only)."""
    if len(messages) == 1:
        comms_publish(message=messages[0], change=change)
        return
    by_org: dict[int, list[Message]] = defaultdict(list)
    for message in messages:
        by_org[message.organization_id].append(message)
    for organization_id, rows in by_org.items():
        version = stream_bump(comms_stream_key(organization_id))
        ids = [str(m.public_id) for m in rows]
        patients = sorted({str(m.patient.public_id) for m in rows if m.patient is not None})
        realtime: dict[str, Any] = {
            "type": "comms.changed",
            "stream": STREAM,
            "version": version,
            "change": change,
            "messages": ids,
            "patients": patients,
        }
        event_record(
            name="comms.messages_changed",
            organization=rows[0].organization,
            payload={"messages": ids},
            realtime=[(comms_group(organization_id), realtime)],
        )

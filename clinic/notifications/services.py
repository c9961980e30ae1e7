"""The notification centre: send, mark read, and the snapshot the bell starts from.

Each user's notifications form one realtime stream, ``notifications.user.<id>``. Every change
bumps its version and records an outbox event whose realtime message reaches all of the
user's sockets after commit, so the bell in every open tab stays right. Titles and bodies are
shown on lock screens (desktop alerts) and travel through Redis: they never carry PHI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from clinic.errors import ApplicationError, NotFound
from clinic.events.services import event_record
from clinic.models import Notification
from clinic.realtime.services import stream_bump, stream_version, user_group

if TYPE_CHECKING:
    from clinic.models import User

STREAM = "notifications"
SNAPSHOT_SIZE = 10
_TITLE_MAX = Notification._meta.get_field("title").max_length or 200
_BODY_MAX = Notification._meta.get_field("body").max_length or 500
_URL_MAX = Notification._meta.get_field("url").max_length or 300


def notifications_stream_key(user_id: int) -> str:
    return f"notifications.user.{user_id}"


def notifications_of(user: User) -> Any:
    """A user's own notifications; nobody else's are ever reachable through it."""
    if user is None or not user.is_authenticated or user.organization_id is None:
        return Notification.objects.none()
    return Notification.objects.filter(recipient_id=user.pk, organization_id=user.organization_id)


def notification_data(notification: Notification) -> dict[str, Any]:
    """What a client sees of one notification (socket messages, the snapshot)."""
    return {
        "public_id": str(notification.public_id),
        "title": notification.title,
        "body": notification.body,
        "url": notification.url,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }


def notifications_unread_count(user: User) -> int:
    return int(notifications_of(user).filter(read_at__isnull=True).count())


def notifications_snapshot(user: User) -> dict[str, Any]:
    """The stream's state: version, unread count, latest items.

    The version is read first, so the items are at least as new as it; a message that then
    arrives with the next version may repeat an item, and clients de-duplicate by public id.
    """
    version = stream_version(notifications_stream_key(user.pk))
    items = list(notifications_of(user).order_by("-id")[:SNAPSHOT_SIZE])
    return {
        "version": version,
        "unread": notifications_unread_count(user),
        "items": [notification_data(n) for n in items],
    }


def notifications_page(
    user: User, *, before: str | None = None, size: int = 25
) -> tuple[list, bool]:
    """One page of the list, newest first, by keyset on the key (no OFFSET, no COUNT).

    ``before`` is the public id of the last row already shown. Returns (rows, has_more).
    """
    qs = notifications_of(user).order_by("-id")
    if before:
        anchor = qs.filter(public_id=before).values_list("id", flat=True).first()
        if anchor is None:
            raise NotFound("That page of notifications does not exist.")
        qs = qs.filter(id__lt=anchor)
    rows = list(qs[: size + 1])
    return rows[:size], len(rows) > size


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    # Only paths inside the portal: a notification must never become an off-site redirect.
    if url and (not url.startswith("/") or url.startswith("//") or "\\" in url):
        raise ApplicationError("A notification link must be a path inside Tandem.", code="bad_url")
    if len(url) > _URL_MAX:
        raise ApplicationError("That notification link is too long.", code="bad_url")
    return url


def _publish(
    *, name: str, recipient: User, notification: Notification | None, message: dict
) -> None:
    event_record(
        name=name,
        organization=recipient.organization,
        aggregate=notification,
        payload={
            "recipient_id": recipient.pk,
            "notification_id": notification.pk if notification is not None else None,
        },
        realtime=[(user_group(recipient.pk), {"stream": STREAM, **message})],
    )


@transaction.atomic
def notification_send(
    *,
    actor: User | None,
    recipient: User,
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
) -> Notification:
    """Put a notification in ``recipient``'s centre and push it to their open pages.

    ``actor`` is who caused it (None for the system); it must belong to the recipient's
    organization. The title and body must not contain PHI.
    """
    if recipient is None or not recipient.is_active or recipient.organization_id is None:
        raise NotFound("That person cannot receive notifications.")
    if actor is not None and actor.organization_id != recipient.organization_id:
        raise NotFound("That person cannot receive notifications.")
    title = (title or "").strip()
    if not title:
        raise ApplicationError("A notification needs a title.", code="title_required")
    if len(title) > _TITLE_MAX or len(body or "") > _BODY_MAX:
        raise ApplicationError("That notification is too long.", code="too_long")
    kind = (kind or "").strip()[:64] or "general"
    url = _clean_url(url)

    # Bump first: the stream row lock orders concurrent writers, so the count read below
    # belongs to exactly this version.
    version = stream_bump(notifications_stream_key(recipient.pk))
    notification = Notification.objects.create(
        organization_id=recipient.organization_id,
        recipient=recipient,
        kind=kind,
        title=title,
        body=body or "",
        url=url,
    )
    _publish(
        name="notification.created",
        recipient=recipient,
        notification=notification,
        message={
            "type": "notification.created",
            "version": version,
            "unread": notifications_unread_count(recipient),
            "notification": notification_data(notification),
        },
    )
    return notification


# Read marks change the rows first and bump only when something changed: the bump comes
# before the count, so the count belongs to exactly the version the message carries.


@transaction.atomic
def notification_mark_read(*, actor: User, notification: Notification) -> Notification:
    """Mark one of the actor's own notifications read. Someone else's is ``NotFound``."""
    if (
        notification.recipient_id != actor.pk
        or notification.organization_id != actor.organization_id
    ):
        raise NotFound("That notification does not exist.")
    now = timezone.now()
    changed = Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=now, updated_at=now
    )
    notification.refresh_from_db(fields=["read_at", "updated_at"])
    if changed:
        version = stream_bump(notifications_stream_key(actor.pk))
        _publish(
            name="notification.read",
            recipient=actor,
            notification=notification,
            message={
                "type": "notification.read",
                "version": version,
                "unread": notifications_unread_count(actor),
                "public_ids": [str(notification.public_id)],
            },
        )
    return notification


@transaction.atomic
def notifications_mark_all_read(*, actor: User) -> int:
    """Mark all of the actor's notifications read; returns how many changed."""
    now = timezone.now()
    changed = (
        notifications_of(actor).filter(read_at__isnull=True).update(read_at=now, updated_at=now)
    )
    if changed:
        version = stream_bump(notifications_stream_key(actor.pk))
        _publish(
            name="notifications.read_all",
            recipient=actor,
            notification=None,
            message={
                "type": "notification.read",
                "version": version,
                "unread": notifications_unread_count(actor),
                "all": True,
            },
        )
    return int(changed)

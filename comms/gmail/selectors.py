"""Scoped reads of email and the search across email and SMS.

``emails_visible_to`` applies ``comms.gmail.permissions`` as one queryset: linked email by the
patient's home location (full record), unlinked email by mailbox (ADMINs for shared ones, the
owner for personal ones). ``messages_search`` is PostgreSQL full-text search over the subject
and body of every SMS and email the user may see, best match first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.urls import reverse

from clinic.errors import NotFound
from clinic.tenancy import scope_queryset
from comms.gmail.models import GmailAttachment, GmailMailbox, GmailMessage
from comms.gmail.permissions import can_email_patient, works_shared_inbox
from comms.messaging.selectors import conversations_visible_to
from comms.messaging.timeline import PER_SOURCE, REMINDER_PURPOSES, TimelineEntry
from comms.models import Channel, Message
from patients.record.permissions import full_access_location_ids

if TYPE_CHECKING:
    from clinic.models import User

SEARCH_CONFIG = "english"
SEARCH_LIMIT = 50
# The document the search index is built over (see the migration that creates the index):
# the same expression here, so PostgreSQL can use it.
SEARCH_DOCUMENT_SQL = (
    "to_tsvector('english'::regconfig, coalesce(\"comms_message\".\"subject\", '') || ' ' || "
    'coalesce("comms_message"."body", \'\'))'
)


def mailboxes_of_organization(user: User) -> QuerySet[GmailMailbox]:
    return scope_queryset(GmailMailbox.objects.all(), user).select_related("owner", "connected_by")


def mailboxes_usable_by(user: User) -> list[GmailMailbox]:
    """Connected mailboxes ``user`` may send from: shared ones, then their own."""
    qs = scope_queryset(
        GmailMailbox.objects.filter(status=GmailMailbox.Status.CONNECTED), user
    ).filter(Q(kind=GmailMailbox.Kind.SHARED) | Q(owner=user))
    return list(qs.order_by("kind", "email_address"))


def _email_rule(user: User) -> Q:
    """Which email rows ``user`` may see (comms.gmail.permissions, as one condition)."""
    own_unlinked = Q(patient__isnull=True, gmail__mailbox__owner=user)
    if user.is_org_admin:
        linked = Q(patient__isnull=False)
    else:
        linked = Q(patient__home_location_id__in=full_access_location_ids(user))
    rule = linked | own_unlinked
    if works_shared_inbox(user):
        rule |= Q(patient__isnull=True, gmail__mailbox__kind=GmailMailbox.Kind.SHARED)
    return Q(channel=Channel.EMAIL) & rule


def emails_visible_to(user: User) -> QuerySet[Message]:
    return scope_queryset(Message.objects.filter(channel=Channel.EMAIL), user).filter(
        _email_rule(user)
    )


def email_get_visible(user: User, public_id: Any) -> Message:
    """One email with its Gmail side, thread, mailbox and attachments."""
    try:
        return (
            emails_visible_to(user)
            .select_related(
                "patient",
                "patient__home_location",
                "organization",
                "gmail",
                "gmail__mailbox",
                "gmail__thread",
            )
            .prefetch_related(
                Prefetch(
                    "gmail__attachments",
                    queryset=GmailAttachment.objects.select_related("document"),
                )
            )
            .get(public_id=public_id)
        )
    except (Message.DoesNotExist, ValueError) as exc:
        raise NotFound("That email does not exist or is not available to you.") from exc


def thread_messages(user: User, message: Message) -> list[Message]:
    """The visible emails of ``message``'s Gmail thread, oldest first (constant queries)."""
    row = getattr(message, "gmail", None)
    if row is None or row.thread_id is None:
        return [message]
    return list(
        emails_visible_to(user)
        .filter(gmail__thread_id=row.thread_id, gmail__deleted_at__isnull=True)
        .select_related("gmail", "gmail__mailbox", "sender")
        .prefetch_related(
            Prefetch(
                "gmail__attachments",
                queryset=GmailAttachment.objects.select_related("document"),
            )
        )
        .order_by("created_at", "id")
    )


def gmail_row_get_visible(user: User, public_id: Any) -> GmailMessage:
    message = email_get_visible(user, public_id)
    row = getattr(message, "gmail", None)
    if row is None:
        raise NotFound("That email does not exist or is not available to you.")
    return row


def attachment_get_visible(user: User, public_id: Any) -> GmailAttachment:
    try:
        attachment = GmailAttachment.objects.select_related(
            "gmail_message", "gmail_message__mailbox", "document"
        ).get(public_id=public_id)
    except (GmailAttachment.DoesNotExist, ValueError) as exc:
        raise NotFound("That attachment does not exist or is not available to you.") from exc
    if not emails_visible_to(user).filter(pk=attachment.gmail_message.message_id).exists():
        raise NotFound("That attachment does not exist or is not available to you.")
    return attachment


def messages_search(user: User, text: str, *, channel: str = "") -> QuerySet[Message]:
    """SMS and email ``user`` may see whose subject or body match ``text`` (web-search syntax:
    words, "phrases", -not, or), best first."""
    query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
    document = RawSQL(SEARCH_DOCUMENT_SQL, [], output_field=SearchVectorField())  # noqa: S611

    # Text messages as the SMS pages show them (their conversations), email as above.
    sms = Q(channel=Channel.SMS, conversation__in=conversations_visible_to(user).values("pk"))
    qs = scope_queryset(Message.objects.all(), user).filter(sms | _email_rule(user))
    if channel in Channel.values:
        qs = qs.filter(channel=channel)
    return (
        qs.annotate(document=document)
        .filter(document=query)
        .annotate(rank=SearchRank(F("document"), query))
        .select_related("patient", "patient__home_location", "gmail")
        .order_by("-rank", "-created_at", "-id")[:SEARCH_LIMIT]
    )


def email_timeline_source(
    *, user: User, patient: Any, since: Any = None, kinds: Any = None
) -> list[Any]:
    """The patient's email for the communications timeline (``comms.messaging.timeline``):
    one entry per email, reminders sent by email as reminders; one query."""

    if kinds is not None and not ({"email", "reminder"} & set(kinds)):
        return []
    if not can_email_patient(user, patient):
        return []
    qs = Message.objects.filter(patient=patient, channel=Channel.EMAIL).exclude(
        gmail__deleted_at__isnull=False
    )
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    entries = []
    for m in qs.select_related("gmail").order_by("-created_at", "-id")[:PER_SOURCE]:
        reminder = m.purpose in REMINDER_PURPOSES
        if m.direction == "inbound":
            title = "Email received"
        else:
            title = "Reminder emailed" if reminder else "Email sent"
            status = m.get_status_display()
            if m.not_really_sent:
                status += " · not really sent (development gateway)"
            title += f" · {status}"
        if m.subject:
            title += f" · {m.subject}"
        has_page = getattr(m, "gmail", None) is not None
        entries.append(
            TimelineEntry(
                at=m.created_at,
                kind="reminder" if reminder else "email",
                title=title,
                detail=m.body[:500],
                url=reverse("comms:email_detail", kwargs={"public_id": m.public_id})
                if has_page
                else "",
            )
        )
    return entries


INBOX_LIMIT = 50
_UNREAD = Q(direction="inbound", gmail__is_unread=True)


def emails_unread_count(user: User) -> int:
    """Unread email ``user`` may see, as the email list counts it (the inbox page's badge)."""
    return emails_visible_to(user).filter(_UNREAD, gmail__deleted_at__isnull=True).count()


def email_inbox(user: User, show: str = "") -> tuple[list[Message], dict[str, int]]:
    """The newest visible email (at most ``INBOX_LIMIT``), optionally only unread or only
    unassigned, and the counts of both; three queries whatever the number of rows."""

    qs = emails_visible_to(user).filter(gmail__deleted_at__isnull=True)
    unread = _UNREAD
    counts = qs.aggregate(
        unread=Count("pk", filter=unread), unassigned=Count("pk", filter=Q(patient__isnull=True))
    )
    if show == "unread":
        qs = qs.filter(unread)
    elif show == "unassigned":
        qs = qs.filter(patient__isnull=True)
    rows = list(
        qs.select_related("patient", "patient__home_location", "gmail", "gmail__mailbox").order_by(
            "-created_at", "-id"
        )[:INBOX_LIMIT]
    )
    return rows, {k: int(v or 0) for k, v in counts.items()}

"""Scoped reads of email and the search across email and SMS.

``emails_visible_to`` applies ``comms.gmail_permissions`` as one queryset: linked email by the
patient's home location (full record), unlinked email by mailbox (ADMINs for shared ones, the
owner for personal ones). ``messages_search`` is PostgreSQL full-text search over the subject
and body of every SMS and email the user may see, best match first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from clinic.errors import NotFound
from clinic.tenancy import scope_queryset
from patients.permissions import full_access_location_ids

from .gmail_models import GmailAttachment, GmailMailbox, GmailMessage
from .gmail_permissions import works_shared_inbox
from .models import Channel, Message

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


def _visible(user: User, qs: QuerySet[Message]) -> QuerySet[Message]:
    qs = scope_queryset(qs, user)
    own_unlinked = Q(patient__isnull=True, gmail__mailbox__owner=user)
    if user.is_org_admin:
        linked = Q(patient__isnull=False)
    else:
        linked = Q(patient__home_location_id__in=full_access_location_ids(user))
    if works_shared_inbox(user):
        shared_unlinked = Q(patient__isnull=True) & (
            Q(gmail__mailbox__kind=GmailMailbox.Kind.SHARED) | Q(channel=Channel.SMS)
        )
        return qs.filter(linked | own_unlinked | shared_unlinked)
    return qs.filter(linked | own_unlinked)


def emails_visible_to(user: User) -> QuerySet[Message]:
    return _visible(user, Message.objects.filter(channel=Channel.EMAIL))


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
    qs = _visible(user, Message.objects.all())
    if channel in Channel.values:
        qs = qs.filter(channel=channel)
    return (
        qs.annotate(document=document)
        .filter(document=query)
        .annotate(rank=SearchRank(F("document"), query))
        .select_related("patient", "patient__home_location", "gmail")
        .order_by("-rank", "-created_at", "-id")[:SEARCH_LIMIT]
    )

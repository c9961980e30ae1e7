"""The inbox's counts across text messages and email (the one read that spans both
sub-domains; the pages that show them are in ``comms.messaging.views``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, Sum

from comms.gmail.selectors import emails_unread_count
from comms.messaging.selectors import conversations_visible_to

if TYPE_CHECKING:
    from clinic.models import User


def inbox_counts(user: User) -> dict[str, int]:
    """Unread text messages in the user's patients' conversations and in the unassigned inbox,
    and unread email the user may see (the email list's own unread count). Two queries."""
    qs = conversations_visible_to(user).filter(unread_count__gt=0, archived_at__isnull=True)
    totals = qs.aggregate(
        patients=Sum("unread_count", filter=Q(patient__isnull=False)),
        unassigned=Sum("unread_count", filter=Q(patient__isnull=True)),
    )
    patients = int(totals["patients"] or 0)
    unassigned = int(totals["unassigned"] or 0)
    email = emails_unread_count(user)
    return {
        "patients": patients,
        "unassigned": unassigned,
        "email": email,
        "total": patients + unassigned + email,
    }

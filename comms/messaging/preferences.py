"""Contact preferences: a patient's number or address opted out or in, and consent per channel.
Read by sending (``message_send``) and delivery, written by incoming keywords (``comms.sms``)
and by the carrier reporting an unsubscribed recipient (delivery)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from comms.models import ContactPreference

if TYPE_CHECKING:
    from clinic.models import Organization


def preference_for(
    *, organization: Organization, channel: str, address: str
) -> ContactPreference | None:
    return ContactPreference.objects.filter(
        organization=organization, channel=channel, address=address
    ).first()


def preference_opt_out(
    *, organization: Organization, channel: str, address: str, keyword: str
) -> ContactPreference:
    """Mark ``address`` opted out on ``channel`` (a STOP keyword, or the carrier reporting the
    recipient unsubscribed); the caller holds the transaction."""
    now = timezone.now()
    preference, _ = ContactPreference.objects.select_for_update().get_or_create(
        organization=organization, channel=channel, address=address
    )
    preference.opted_out = True
    preference.opted_out_at = now
    preference.last_keyword = keyword[:20]
    preference.save(update_fields=["opted_out", "opted_out_at", "last_keyword", "updated_at"])
    return preference

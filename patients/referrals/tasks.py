"""Daily job of the referrals and authorizations part: authorization expiry warnings."""

from __future__ import annotations

from celery import shared_task

from patients.referrals.services import authorizations_expire, authorizations_warn_expiring


@shared_task(name="patients.authorizations_warn_expiring_task")
def authorizations_warn_expiring_task() -> int:
    """Warn about authorizations that expire soon and mark the ones that ended as expired.

    Safe to run twice: each warning is a unique row, so a second run sends nothing new.
    """
    authorizations_expire()
    return authorizations_warn_expiring()

"""Celery tasks of scheduling: each takes ids (or nothing), calls one service and is safe to run
twice. The beat schedule (config/settings/base.py) runs them."""

from __future__ import annotations

from celery import shared_task

from scheduling.reminders.services import reminders_send_due
from scheduling.series.services import series_extend_due
from scheduling.waitlist.services import waitlist_offers_expire


@shared_task(name="scheduling.reminders_send_due")
def reminders_send_due_task() -> dict[str, int]:
    """Every minute: send the reminders that are due (each at most once)."""

    return reminders_send_due()


@shared_task(name="scheduling.waitlist_offers_expire")
def waitlist_offers_expire_task() -> int:
    """Every minute: expire overdue waitlist offers and offer their slots to the next in line."""

    return waitlist_offers_expire()


@shared_task(name="scheduling.series_extend_due")
def series_extend_due_task() -> int:
    """Daily: book recurring occurrences that have come inside the horizon."""

    return series_extend_due()

"""Celery tasks of guided sessions (autodiscovered)."""

from __future__ import annotations

from celery import shared_task

from .services import guided_sessions_expire


@shared_task(name="patients.guided.guided_sessions_expire")
def guided_sessions_expire_task() -> int:
    """Expire idle or too-old sessions (beat, every minute). Safe to run twice."""
    return guided_sessions_expire()

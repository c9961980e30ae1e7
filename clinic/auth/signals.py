"""Hooks into Django's own auth machinery (the one place we react to framework signals)."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.dispatch import receiver

from clinic.auth.services import axes_refused_while_locked, sign_in_lockout_record


@receiver(user_locked_out, dispatch_uid="clinic.audit_lockout")
def _audit_lockout(
    sender: Any, request: Any = None, username: str | None = None, **kwargs: Any
) -> None:
    """axes sends this when an (email, IP) pair reaches the limit, and again for every
    attempt while it stays locked."""
    again = axes_refused_while_locked(request)
    sign_in_lockout_record(
        email=username or "", reason="attempt_while_locked" if again else "limit_reached"
    )

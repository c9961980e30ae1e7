"""Growing waits after repeated wrong answers to one secret check, counted in PostgreSQL.

Two limits use it: every sign-in attempt for one email, from whatever address (the per-address
lockout is django-axes'), and the current-password check on the account page. The
``free_failures``-th wrong answer within ``window`` (counted from the last one) starts a wait of
``first_wait`` seconds, and each wrong answer after it one twice as long, up to ``max_wait``.
During the wait the secret is not checked at all, so the right one does not get in, and
attempts during the wait neither count nor push it back: a stranger can slow an account
down, never lock its owner out for longer than ``max_wait``. A right answer clears the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from clinic.models import AuthThrottle


@dataclass(frozen=True)
class Limit:
    scope: str
    free_failures: int
    window: timedelta
    first_wait: int  # seconds
    max_wait: int  # seconds


def sign_in_limit() -> Limit:
    """Per account (the typed email), across every address."""
    return Limit(
        scope="sign_in",
        free_failures=settings.SIGN_IN_ACCOUNT_FREE_FAILURES,
        window=timedelta(minutes=settings.SIGN_IN_ACCOUNT_WINDOW_MINUTES),
        first_wait=30,
        max_wait=settings.SIGN_IN_ACCOUNT_MAX_WAIT_SECONDS,
    )


def current_password_limit() -> Limit:
    """The account page's "current password" check, per signed-in person."""
    return Limit(
        scope="current_password",
        free_failures=settings.CURRENT_PASSWORD_FREE_FAILURES,
        window=timedelta(minutes=15),
        first_wait=60,
        max_wait=15 * 60,
    )


def _key(limit: Limit, subject: str) -> str:
    return salted_hmac(f"clinic.auth.throttle.{limit.scope}", subject.strip().lower()).hexdigest()


def throttle_wait(*, limit: Limit, subject: str) -> int:
    """Seconds ``subject`` must still wait before its secret is checked again (0: none).

    Call inside a transaction: the count's row is locked (made if missing) until it ends, so
    the check that follows and its ``throttle_fail``/``throttle_clear`` are one step.
    """
    now = timezone.now()
    row, created = AuthThrottle.objects.select_for_update().get_or_create(
        scope=limit.scope, key=_key(limit, subject), defaults={"last_failure_at": now}
    )
    if created:
        # Counts nobody has touched for a window are over: keep the table small.
        AuthThrottle.objects.filter(
            scope=limit.scope, last_failure_at__lt=now - limit.window
        ).exclude(pk=row.pk).exclude(blocked_until__gt=now).delete()
    if row.blocked_until is None:
        return 0
    left = (row.blocked_until - now).total_seconds()
    return max(0, int(left + 0.999))


def throttle_fail(*, limit: Limit, subject: str) -> int:
    """Count one wrong answer; return the wait it starts (0 while still under the limit)."""
    now = timezone.now()
    with transaction.atomic():
        row, created = AuthThrottle.objects.select_for_update().get_or_create(
            scope=limit.scope, key=_key(limit, subject), defaults={"last_failure_at": now}
        )
        if not created and now - row.last_failure_at > limit.window:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        over = row.failures - limit.free_failures
        wait = min(limit.first_wait * 2 ** min(over, 20), limit.max_wait) if over >= 0 else 0
        row.blocked_until = now + timedelta(seconds=wait) if wait else None
        row.save(update_fields=["failures", "last_failure_at", "blocked_until"])
    return wait


def throttle_clear(*, limit: Limit, subject: str) -> None:
    """The right answer: the count starts again."""
    AuthThrottle.objects.filter(scope=limit.scope, key=_key(limit, subject)).delete()


def wait_phrase(seconds: int) -> str:
    """30 -> "30 seconds", 90 -> "2 minutes" (rounded up: never promise too early)."""
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"

from django.db import models


class AuthThrottle(models.Model):
    """Wrong answers to one secret check (a sign-in email across every address, or one
    person's current-password check) and the wait they have earned. The key is a keyed hash:
    the table never holds a typed email. Counters live in PostgreSQL, not Redis, so a cache
    outage neither lifts nor breaks the limit."""

    scope = models.CharField(max_length=32)
    key = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "clinic"
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="auththrottle_scope_key_uniq")
        ]
        indexes = [models.Index(fields=["last_failure_at"], name="auththrottle_last_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key[:8]}…"

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxEvent(models.Model):
    """A domain event written in the same transaction as the change it describes.

    After commit it is handed to Celery; the worker runs the handlers and broadcasts to the
    realtime groups, then stamps ``dispatched_at``. A periodic sweep re-sends whatever was
    not dispatched (broker down at commit, worker lost mid-task).
    """

    created_at = models.DateTimeField(default=timezone.now)
    organization = models.ForeignKey(
        "clinic.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=64, blank=True)
    aggregate_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    realtime = models.JSONField(
        default=list, blank=True, help_text="[[group, message], ...] to broadcast after commit"
    )
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_pending",
                condition=Q(dispatched_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class EventHandled(models.Model):
    """Idempotency ledger: a handler records each event it has applied, in its own transaction."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="+")
    handler = models.CharField(max_length=100)
    handled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "handler"], name="event_handled_once")
        ]
        verbose_name = "handled event"

    def __str__(self) -> str:
        return f"{self.handler} handled event #{self.event_id}"


class RealtimeStream(models.Model):
    """The version counter of one realtime stream (e.g. a user's notifications)."""

    key = models.CharField(max_length=200, primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}@{self.version}"

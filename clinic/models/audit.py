import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One row per security-relevant act. Append-only: the database refuses UPDATE and DELETE.

    Holds ids and codes, never PHI: ``object_id`` is a public id and ``details`` carries
    only reasons, counts and field names.
    """

    occurred_at = models.DateTimeField(default=timezone.now)
    organization = models.ForeignKey(
        "clinic.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey(
        "clinic.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    details = models.JSONField(default=dict, blank=True)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "-id"], name="audit_org_recent"),
            models.Index(fields=["organization", "actor", "-id"], name="audit_org_actor"),
            models.Index(fields=["organization", "action", "-id"], name="audit_org_action"),
            models.Index(
                fields=["organization", "object_type", "object_id"], name="audit_org_object"
            ),
            # INCLUDE id: a date window's newest ids come from this index alone (no heap reads).
            models.Index(
                fields=["organization", "occurred_at"], include=["id"], name="audit_org_time"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="audit_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action}"

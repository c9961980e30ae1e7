"""A CSV export of the patient list made in the background: who asked, with which filters,
how far it got, and where the finished file is kept (downloaded through a signed link).

Re-exported by ``patients.models``. Written by ``patients.bulk.services``'s export services only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from clinic.models import Organization
from clinic.models.base import PublicIdModel


class ExportState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class PatientExport(PublicIdModel):
    """One export of the filtered patient list. ``query`` is the list's query string (it may
    hold what was typed in the search box, so it stays here, never in audit rows or task
    arguments)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    query = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=ExportState.choices, default=ExportState.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    storage_name = models.CharField(max_length=255, blank=True, editable=False)
    size = models.PositiveBigIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=ExportState.values), name="patient_export_state_known"
            ),
            models.CheckConstraint(
                condition=models.Q(rows_done__lte=models.F("rows_total")) | models.Q(rows_total=0),
                name="patient_export_progress_bounded",
            ),
        ]
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="patient_export_by")]

    def __str__(self) -> str:
        return f"Patient export {self.public_id}"

    @property
    def is_finished(self) -> bool:
        return self.state in (ExportState.DONE, ExportState.FAILED)

    def download_filename(self) -> str:
        return f"patients-export-{self.public_id}.csv"

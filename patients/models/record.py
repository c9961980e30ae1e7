"""The patient record itself and what hangs directly off it: status history, notes, referring
physicians and field-technician assignments.

Writes go through ``patients.record.services``; reads that scope go through
``patients.record.selectors``.
"""

from __future__ import annotations

import re
import unicodedata

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower

from clinic.models import Location, Organization
from clinic.models.base import PublicIdModel


def normalize_name(*parts: str) -> str:
    """Lower-case, accent-free, single-spaced: the form names are searched in."""
    text = " ".join(p for p in parts if p)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text).strip().lower()


def npi_is_valid(value: str) -> bool:
    """DOMAIN.md: 10 digits, first 1 or 2, last a Luhn check over the first nine as if
    prefixed with 80840 (i.e. add 24 to the Luhn sum)."""
    if not re.fullmatch(r"[12]\d{9}", value or ""):
        return False
    total = 24
    for i, ch in enumerate(reversed(value[:9])):
        d = int(ch)
        if i % 2 == 0:  # rightmost of the nine is doubled
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(value[9])


def validate_npi(value: str) -> None:
    if not npi_is_valid(value):
        raise ValidationError(
            "Enter a valid 10-digit NPI (it starts with 1 or 2 and ends with a check digit).",
            code="invalid_npi",
        )


class PatientStatus(models.TextChoices):
    PENDING_SCHEDULE = "PENDING_SCHEDULE", "Pending schedule"
    SCHEDULED = "SCHEDULED", "Scheduled"
    ACTIVE = "ACTIVE", "Active"
    PENDING_CLAIM = "PENDING_CLAIM", "Pending claim"
    OUTSTANDING_BALANCE = "OUTSTANDING_BALANCE", "Outstanding balance"
    COMPLETED = "COMPLETED", "Completed"
    TRANSFERRED = "TRANSFERRED", "Transferred"
    INACTIVE = "INACTIVE", "Inactive"


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "X", "Other"
    UNKNOWN = "U", "Unknown"


class ContactChannel(models.TextChoices):
    SMS = "SMS", "Text message"
    PHONE = "PHONE", "Phone call"
    EMAIL = "EMAIL", "Email"
    MAIL = "MAIL", "Letter"


class PatientFlag(models.TextChoices):
    HARD_OF_HEARING = "hard_of_hearing", "Hard of hearing"
    FALL_RISK = "fall_risk", "Fall risk"
    NEEDS_INTERPRETER = "needs_interpreter", "Needs interpreter"
    VISION_IMPAIRED = "vision_impaired", "Vision impaired"
    MOBILITY_AID = "mobility_aid", "Uses a mobility aid"
    OXYGEN = "oxygen", "On oxygen"


class Physician(PublicIdModel):
    """A referring physician, shared by every patient they refer."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="physicians"
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    practice = models.CharField(max_length=200, blank=True)
    npi = models.CharField("NPI", max_length=10, validators=[validate_npi])
    phone = models.CharField(max_length=20, blank=True)
    fax = models.CharField(max_length=20, blank=True)
    address = models.CharField(max_length=300, blank=True)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "npi"], name="physician_npi_per_org")
        ]

    def __str__(self) -> str:
        practice = f" ({self.practice})" if self.practice else ""
        return f"Dr {self.first_name} {self.last_name}{practice}"


@pghistory.track(model_name="PatientEvent", meta={"verbose_name": "patient change"})
class Patient(PublicIdModel):
    """One person a clinic cares for, homed at one location of one organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="patients"
    )
    home_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=32)
    first_name = models.CharField(max_length=100)
    middle_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    # Derived from the names for typo-tolerant search (trigram index); kept in step by save().
    search_name = models.CharField(max_length=420, editable=False, default="")
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    phone_mobile = models.CharField("mobile phone", max_length=20, blank=True)
    phone_home = models.CharField("home phone", max_length=20, blank=True)
    email = models.EmailField(blank=True)
    address_line1 = models.CharField("address", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    preferred_contact = models.CharField(
        "preferred contact",
        max_length=10,
        choices=ContactChannel.choices,
        default=ContactChannel.SMS,
    )
    language = models.CharField(max_length=50, default="English")
    emergency_contact_name = models.CharField(max_length=150, blank=True)
    emergency_contact_phone = models.CharField(max_length=20, blank=True)
    emergency_contact_relationship = models.CharField(max_length=50, blank=True)
    flags = ArrayField(
        models.CharField(max_length=30, choices=PatientFlag.choices), default=list, blank=True
    )
    status = models.CharField(
        max_length=20, choices=PatientStatus.choices, default=PatientStatus.PENDING_SCHEDULE
    )
    referring_physician = models.ForeignKey(
        Physician, on_delete=models.PROTECT, null=True, blank=True, related_name="patients"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "home_location"

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "mrn"], name="patient_mrn_per_org"),
            models.CheckConstraint(
                condition=models.Q(status__in=PatientStatus.values), name="patient_status_known"
            ),
        ]
        indexes = [
            GinIndex(fields=["search_name"], opclasses=["gin_trgm_ops"], name="patient_name_trgm"),
            models.Index(
                fields=["organization", "last_name", "first_name", "id"], name="patient_org_name"
            ),
            # Whole-surname search in page order (patients.record.selectors.patient_search).
            models.Index(
                F("organization"),
                Lower("last_name"),
                F("last_name"),
                F("first_name"),
                F("id"),
                name="patient_org_surname",
            ),
            # The one-location list in page order: one page's read, however many locations.
            models.Index(
                fields=["organization", "home_location", "last_name", "first_name", "id"],
                name="patient_org_loc_name",
            ),
            # Surname-prefix search: byte-wise ranges of lower(last_name), whatever the
            # database's collation, and the surnames themselves read from the index alone
            # (patients.record.selectors._surnames_starting_with).
            models.Index(
                F("organization"),
                OpClass(Lower("last_name"), name="text_pattern_ops"),
                F("last_name"),
                name="patient_org_surname_prefix",
            ),
            models.Index(
                fields=["organization", "home_location", "status", "id"],
                name="patient_org_loc_status",
            ),
            models.Index(fields=["phone_mobile"], name="patient_phone_mobile"),
            models.Index(fields=["phone_home"], name="patient_phone_home"),
            models.Index(fields=["date_of_birth"], name="patient_dob"),
            GinIndex(fields=["flags"], name="patient_flags"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        first = self.preferred_name or self.first_name
        return f"{first} {self.last_name}".strip()

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)

    def flag_labels(self) -> list[str]:
        labels = dict(PatientFlag.choices)
        return [str(labels.get(code, code)) for code in self.flags]

    def save(self, *args: object, **kwargs: object) -> None:
        self.search_name = normalize_name(
            self.first_name, self.middle_name, self.last_name, self.preferred_name
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "search_name"}  # type: ignore[misc]
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class PatientStatusChange(models.Model):
    """One step of the lifecycle, with who moved it and why."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=PatientStatus.choices)
    to_status = models.CharField(max_length=20, choices=PatientStatus.choices)
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    tenant_organization_field = "patient__organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "-at"], name="patient_status_change_at")]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class PatientNote(PublicIdModel):
    """A dated note by a named author. Never edited: a correction is a new note."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    text = models.TextField()

    tenant_organization_field = "patient__organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "-created_at"], name="patient_note_at")]

    def __str__(self) -> str:
        return f"Note {self.public_id}"


class PatientAssignment(models.Model):
    """A field technician's link to a patient they serve. Scheduling and deliveries add rows
    (``source`` says which); a technician sees exactly the patients linked here."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="assignments")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient_assignments"
    )
    source = models.CharField(max_length=30, default="manual")
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_organization_field = "patient__organization"
    tenant_location_field = "patient__home_location"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "technician"], name="patient_assignment_unique"
            )
        ]
        indexes = [models.Index(fields=["technician", "patient"], name="patient_assignment_tech")]

    def __str__(self) -> str:
        return f"Assignment {self.pk}"

"""Fee schedules: what each payer (and the self-pay schedule) pays for a code on a date, and
which appointment types are billable with which codes.

A schedule belongs to one payer of the organization, or is the organization's one self-pay
schedule (payer empty). Its lines are dated: the database refuses two lines for the same code
and modifiers whose effective dates overlap (exclusion constraint), so a lookup on a date finds
at most one price.
"""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeOperators
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Func, Q

from clinic.models.base import PublicIdModel

# CPT: 5 digits, or 4 digits and F/T/U (category II, III, PLA). HCPCS level II: a letter A-V
# and 4 digits.
CODE_PATTERN = r"^([0-9]{4}[0-9FTU]|[A-V][0-9]{4})$"
MODIFIER_PATTERN = r"^[A-Z0-9]{2}$"
# Modifiers are kept as one normalized text ("RR KH"): up to four two-character codes.
MODIFIERS_PATTERN = r"^([A-Z0-9]{2}( [A-Z0-9]{2}){0,3})?$"
code_validator = RegexValidator(
    CODE_PATTERN, "A code is a CPT code (5 digits, e.g. 95810) or HCPCS (a letter and 4 digits)."
)


class DateRange(Func):
    """``daterange(from, to, '[]')``: both ends included; an empty end is open."""

    function = "daterange"
    output_field = DateRangeField()


class FeeSchedule(PublicIdModel):
    """One payer's prices (or the organization's self-pay prices when ``payer`` is empty)."""

    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    payer = models.ForeignKey(
        "patients.Payer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        "clinic.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "payer"],
                condition=Q(payer__isnull=False),
                name="fee_schedule_one_per_payer",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(payer__isnull=True),
                name="fee_schedule_one_self_pay",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_self_pay(self) -> bool:
        return self.payer_id is None


class FeeLine(PublicIdModel):
    """The price of one code (with its modifiers) on one schedule between two dates."""

    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    schedule = models.ForeignKey(FeeSchedule, on_delete=models.PROTECT, related_name="lines")
    code = models.CharField(max_length=5, validators=[code_validator])
    modifiers = models.CharField(max_length=11, blank=True)
    purchase_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    rental_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    allowed_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    units = models.PositiveIntegerField(default=1)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        "clinic.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["code", "modifiers", "-effective_from"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=CODE_PATTERN), name="fee_code_format"),
            models.CheckConstraint(
                condition=Q(modifiers__regex=MODIFIERS_PATTERN), name="fee_modifiers_format"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="fee_dates_ordered",
            ),
            models.CheckConstraint(
                condition=(Q(purchase_price__isnull=True) | Q(purchase_price__gte=0))
                & (Q(rental_price__isnull=True) | Q(rental_price__gte=0))
                & (Q(allowed_amount__isnull=True) | Q(allowed_amount__gte=0)),
                name="fee_amounts_not_negative",
            ),
            models.CheckConstraint(condition=Q(units__gte=1), name="fee_units_positive"),
            ExclusionConstraint(
                name="fee_line_no_overlap",
                expressions=[
                    ("schedule", RangeOperators.EQUAL),
                    ("code", RangeOperators.EQUAL),
                    ("modifiers", RangeOperators.EQUAL),
                    (
                        DateRange("effective_from", "effective_to", models.Value("[]")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
                violation_error_message="Another line for that code is in effect on those dates.",
            ),
        ]
        indexes = [models.Index(fields=["schedule", "code"], name="fee_line_lookup")]

    def __str__(self) -> str:
        mods = f"-{self.modifiers.replace(' ', '-')}" if self.modifiers else ""
        return f"{self.code}{mods}"


class BillableCode(PublicIdModel):
    """One code billed when an appointment of ``appointment_type`` is completed. Kept here, not
    on the appointment type, so billing owns what it charges."""

    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    appointment_type = models.ForeignKey(
        "scheduling.AppointmentType", on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(max_length=5, validators=[code_validator])
    modifiers = models.CharField(max_length=11, blank=True)
    units = models.PositiveIntegerField(default=1)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["appointment_type__name", "code", "modifiers"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment_type", "code", "modifiers"], name="billable_code_once"
            ),
            models.CheckConstraint(
                condition=Q(code__regex=CODE_PATTERN), name="billable_code_format"
            ),
            models.CheckConstraint(
                condition=Q(modifiers__regex=MODIFIERS_PATTERN), name="billable_modifiers_format"
            ),
            models.CheckConstraint(condition=Q(units__gte=1), name="billable_units_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_type_id}: {self.code}"

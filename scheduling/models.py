"""Scheduling records: appointment types, rooms, technicians and their availability,
appointments (with recurring series), the waitlist and reminders.

No technician, room or patient is ever in two active appointments at once: PostgreSQL refuses
it with exclusion constraints over half-open ``[starts_at, ends_at)`` ranges, so back-to-back
visits touch without overlapping. The services check first and explain; the constraints catch
the race. Writes go through ``scheduling.booking.services``.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q

from clinic.models import Location, Organization
from clinic.models.base import PublicIdModel


class TsTzRange(Func):
    """``tstzrange(starts_at, ends_at)``: half-open by default, the shape of a booking."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class AppointmentKind(models.TextChoices):
    REFERRAL = "REFERRAL", "Initial consultation"
    DIAGNOSTIC_STUDY = "DIAGNOSTIC_STUDY", "Diagnostic study"
    EQUIPMENT_SETUP = "EQUIPMENT_SETUP", "Equipment setup"
    FOLLOW_UP = "FOLLOW_UP", "Follow-up"
    SUPPLY_PICKUP = "SUPPLY_PICKUP", "Supply pickup"
    HOME_TESTING = "HOME_TESTING", "Home testing"
    TELEHEALTH = "TELEHEALTH", "Telehealth visit"
    STAFF_BLOCK = "STAFF_BLOCK", "Unavailable (staff block)"


class Skill(models.TextChoices):
    CONSULTATION = "consultation", "Consultation"
    SLEEP_STUDY = "sleep_study", "Sleep study"
    EQUIPMENT_SETUP = "equipment_setup", "Equipment setup and fitting"
    COMPLIANCE = "compliance", "Compliance check"
    SUPPLIES = "supplies", "Supplies"
    HOME_TESTING = "home_testing", "Home testing equipment"
    TELEHEALTH = "telehealth", "Telehealth"


class AppointmentState(models.TextChoices):
    """FHIR-aligned states of DOMAIN.md; telehealth adds waiting_open and interrupted."""

    BOOKED = "booked", "Booked"
    CHECKED_IN = "checked_in", "Checked in"
    IN_PROGRESS = "in_progress", "In progress"
    FULFILLED = "fulfilled", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NOSHOW = "noshow", "No-show"
    ENTERED_IN_ERROR = "entered_in_error", "Entered in error"
    WAITING_OPEN = "waiting_open", "Waiting room open"
    INTERRUPTED = "interrupted", "Interrupted"


# States that hold their technician, room and patient: the exclusion constraints cover these.
ACTIVE_STATES: tuple[str, ...] = (
    AppointmentState.BOOKED,
    AppointmentState.CHECKED_IN,
    AppointmentState.IN_PROGRESS,
    AppointmentState.WAITING_OPEN,
    AppointmentState.INTERRUPTED,
)
_ACTIVE = Q(state__in=ACTIVE_STATES)

DEFAULT_REMINDER_OFFSETS = [24 * 60, 2 * 60]  # minutes before the start


def default_reminder_offsets() -> list[int]:
    return list(DEFAULT_REMINDER_OFFSETS)


class AppointmentType(PublicIdModel):
    """A kind of visit as one organization runs it: how long, what colour, who can do it."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="appointment_types"
    )
    code = models.CharField(max_length=30, choices=AppointmentKind.choices)
    name = models.CharField(max_length=100)
    duration_minutes = models.PositiveSmallIntegerField(default=60)
    color = models.CharField(max_length=7, default="#2563eb", help_text="#rrggbb")
    skill = models.CharField(max_length=30, choices=Skill.choices, blank=True)
    needs_technician = models.BooleanField(default=True)
    needs_room = models.BooleanField(default=False)
    billing_codes = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    reminder_offsets = ArrayField(
        models.PositiveIntegerField(),
        default=default_reminder_offsets,
        blank=True,
        help_text="Minutes before the start at which reminders go out.",
    )
    is_active = models.BooleanField(default=True)

    tenant_organization_field = "organization"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="appointment_type_code_per_org"
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5) & Q(duration_minutes__lte=24 * 60),
                name="appointment_type_duration_sane",
            ),
            models.CheckConstraint(
                condition=Q(color__regex=r"^#[0-9a-fA-F]{6}$"), name="appointment_type_color_hex"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Room(PublicIdModel):
    """A bookable room at a location (a sleep-lab bedroom, a fitting room)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["location__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["location", "name"], name="room_name_per_location")
        ]

    def __str__(self) -> str:
        return self.name


class TechnicianProfile(PublicIdModel):
    """What scheduling knows about a field technician: where they start, what they can do,
    how many patients a day they take. Their weekly hours and exceptions hang off this."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="technician_profile"
    )
    home_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    skills = ArrayField(
        models.CharField(max_length=30, choices=Skill.choices), default=list, blank=True
    )
    capacity_per_day = models.PositiveSmallIntegerField(
        default=8, help_text="Most patient visits in one day."
    )
    is_active = models.BooleanField(default=True)
    # The private calendar feed: only a hash of the token is kept; revoking clears it.
    feed_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    feed_token_created_at = models.DateTimeField(null=True, blank=True)

    tenant_organization_field = "organization"
    tenant_location_field = "home_location"

    class Meta:
        ordering = ["user__full_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity_per_day__gte=1) & Q(capacity_per_day__lte=100),
                name="technician_capacity_sane",
            )
        ]

    def __str__(self) -> str:
        return f"Technician profile {self.public_id}"


class WorkingHours(models.Model):
    """One weekly working interval, in the technician's home location's time zone.
    A day may have several (a split shift)."""

    technician = models.ForeignKey(
        TechnicianProfile, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday … 6 = Sunday")
    starts = models.TimeField()
    ends = models.TimeField()

    tenant_organization_field = "technician__organization"
    tenant_location_field = "technician__home_location"

    class Meta:
        ordering = ["technician", "weekday", "starts"]
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="working_hours_weekday"),
            models.CheckConstraint(condition=Q(starts__lt=F("ends")), name="working_hours_order"),
            models.UniqueConstraint(
                fields=["technician", "weekday", "starts"], name="working_hours_unique_start"
            ),
        ]

    def __str__(self) -> str:
        return f"Day {self.weekday} {self.starts:%H:%M}-{self.ends:%H:%M}"


class AvailabilityException(PublicIdModel):
    """A dated change to the weekly hours: a day (or part of one) off, or extra hours.
    Without times it covers the whole day."""

    class Kind(models.TextChoices):
        UNAVAILABLE = "UNAVAILABLE", "Unavailable"
        AVAILABLE = "AVAILABLE", "Available (extra hours)"

    technician = models.ForeignKey(
        TechnicianProfile, on_delete=models.CASCADE, related_name="exceptions"
    )
    date = models.DateField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    starts = models.TimeField(null=True, blank=True)
    ends = models.TimeField(null=True, blank=True)
    reason = models.CharField(max_length=30, blank=True, help_text="A short code: pto, training…")

    tenant_organization_field = "technician__organization"
    tenant_location_field = "technician__home_location"

    class Meta:
        ordering = ["date", "starts"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(starts__isnull=True) & Q(ends__isnull=True))
                | (Q(starts__isnull=False) & Q(ends__isnull=False) & Q(starts__lt=F("ends"))),
                name="availability_exception_times",
            ),
            # A whole-day AVAILABLE exception has no hours to add: it must name them.
            models.CheckConstraint(
                condition=~Q(kind="AVAILABLE") | Q(starts__isnull=False),
                name="availability_exception_available_has_hours",
            ),
        ]
        indexes = [models.Index(fields=["technician", "date"], name="availability_exc_day")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date}"


class RecurringSeries(PublicIdModel):
    """A recurring visit (RFC 5545 RRULE, expanded in the location's time zone so 9:00 stays
    9:00 across daylight saving). Occurrences are real Appointment rows up to a horizon that a
    daily job moves forward."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointment_series",
    )
    type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    room = models.ForeignKey(
        Room, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rrule = models.CharField(max_length=300)
    dtstart = models.DateTimeField(help_text="First occurrence (UTC)")
    duration_minutes = models.PositiveSmallIntegerField()
    timezone = models.CharField(max_length=64)
    generated_until = models.DateTimeField(
        null=True, blank=True, help_text="Occurrences exist up to here"
    )
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the series was cut short or cancelled"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "recurring series"
        indexes = [
            models.Index(
                fields=["generated_until"],
                name="series_to_extend",
                condition=Q(ended_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"Series {self.public_id}"


def _no_overlap(field: str, message: str) -> ExclusionConstraint:
    """No two active appointments of one ``field`` value over intersecting half-open ranges."""
    return ExclusionConstraint(
        name=f"appointment_no_{field}_overlap",
        expressions=[
            (field, RangeOperators.EQUAL),
            (TsTzRange("starts_at", "ends_at"), RangeOperators.OVERLAPS),
        ],
        condition=_ACTIVE & Q(**{f"{field}__isnull": False}),
        violation_error_message=message,
    )


class AppointmentQuerySet(models.QuerySet["Appointment"]):
    def active(self) -> AppointmentQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def overlapping(self, starts_at: object, ends_at: object) -> AppointmentQuerySet:
        """Half-open overlap: back-to-back appointments do not overlap."""
        return self.filter(starts_at__lt=ends_at, ends_at__gt=starts_at)


@pghistory.track(model_name="AppointmentEvent", meta={"verbose_name": "appointment change"})
class Appointment(PublicIdModel):
    """One visit (or, for STAFF_BLOCK, a technician's unavailable time) at one location."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(
        "patients.Patient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
    )
    type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="technician_appointments",
    )
    room = models.ForeignKey(
        Room, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    notes = models.TextField(blank=True)
    state = models.CharField(
        max_length=20, choices=AppointmentState.choices, default=AppointmentState.BOOKED
    )
    # Optimistic concurrency: every change bumps it; a save based on an older one is refused.
    version = models.PositiveIntegerField(default=1)
    series = models.ForeignKey(
        RecurringSeries,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="occurrences",
    )
    # The occurrence's original start in its series (iCalendar RECURRENCE-ID): stays put when
    # the occurrence is moved, so "this and following" and the horizon job know where it sits.
    recurrence_id = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = AppointmentQuerySet.as_manager()

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="appointment_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(state__in=AppointmentState.values), name="appointment_state_known"
            ),
            _no_overlap("technician", "That technician is already booked at that time."),
            _no_overlap("room", "That room is already booked at that time."),
            _no_overlap("patient", "That patient already has an appointment at that time."),
            models.UniqueConstraint(
                fields=["series", "recurrence_id"],
                name="appointment_one_per_occurrence",
                condition=Q(series__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["location", "starts_at"], name="appointment_location_time"),
            models.Index(fields=["technician", "starts_at"], name="appointment_technician_time"),
            models.Index(fields=["patient", "starts_at"], name="appointment_patient_time"),
            models.Index(fields=["series", "recurrence_id"], name="appointment_series_occ"),
        ]

    def __str__(self) -> str:
        return f"Appointment {self.public_id}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def can_cancel(self) -> bool:
        return self.state in (AppointmentState.BOOKED, AppointmentState.CHECKED_IN)


class WaitlistEntry(PublicIdModel):
    """A patient waiting for an earlier or better slot of a type at a location."""

    class State(models.TextChoices):
        WAITING = "WAITING", "Waiting"
        BOOKED = "BOOKED", "Booked"
        REMOVED = "REMOVED", "Removed"
        EXPIRED = "EXPIRED", "Expired"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT, related_name="+")
    earliest_date = models.DateField()
    latest_date = models.DateField()
    # Preferred time of day (location time zone); empty means any time.
    earliest_time = models.TimeField(null=True, blank=True)
    latest_time = models.TimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    booked_appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "waitlist entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(latest_date__gte=F("earliest_date")), name="waitlist_dates_order"
            ),
            models.CheckConstraint(
                condition=Q(earliest_time__isnull=True)
                | Q(latest_time__isnull=True)
                | Q(earliest_time__lt=F("latest_time")),
                name="waitlist_times_order",
            ),
        ]
        indexes = [
            models.Index(
                fields=["location", "type", "created_at"],
                name="waitlist_waiting",
                condition=Q(state="WAITING"),
            )
        ]

    def __str__(self) -> str:
        return f"Waitlist entry {self.public_id}"


class WaitlistOffer(PublicIdModel):
    """A freed slot offered to one waiting patient. The first to accept gets it: at most one
    offer per slot can be ACCEPTED (unique constraint), and accepting books the appointment."""

    class State(models.TextChoices):
        PENDING = "PENDING", "Offered"
        ACCEPTED = "ACCEPTED", "Accepted"
        DECLINED = "DECLINED", "Declined"
        EXPIRED = "EXPIRED", "Expired"
        WITHDRAWN = "WITHDRAWN", "Withdrawn (taken by someone else)"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    room = models.ForeignKey(
        Room, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    window_ends_at = models.DateTimeField(
        help_text="End of the freed time: later offers of this slot fit visits up to here"
    )
    # Names the freed slot (location, technician, room, start, end) so offers of one slot
    # can be found together and at most one of them can be accepted.
    slot_key = models.CharField(max_length=64)
    freed_by = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    rank = models.PositiveSmallIntegerField(default=1, help_text="Order in which it was offered")
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["slot_key", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot_key"],
                condition=Q(state="ACCEPTED"),
                name="waitlist_one_winner_per_slot",
            ),
            models.UniqueConstraint(fields=["entry", "slot_key"], name="waitlist_offer_once"),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], name="waitlist_offer_pending", condition=Q(state="PENDING")
            ),
            models.Index(fields=["slot_key", "state"], name="waitlist_offer_slot"),
        ]

    def __str__(self) -> str:
        return f"Waitlist offer {self.public_id}"


class Reminder(PublicIdModel):
    """One reminder of one appointment: (appointment, offset, channel) is sent at most once.

    Rows wait in PostgreSQL with their send time (not as long ETA tasks); a task every minute
    claims due rows with ``SKIP LOCKED``. Sending goes through comms with a dedupe key made of
    this row's id, so a worker that dies mid-send and a task that runs twice send nothing twice.
    """

    class Channel(models.TextChoices):
        SMS = "sms", "Text message"
        EMAIL = "email", "Email"

    class State(models.TextChoices):
        PENDING = "PENDING", "Waiting to send"
        SENT = "SENT", "Sent"
        SKIPPED = "SKIPPED", "Not sent (refused)"
        WITHDRAWN = "WITHDRAWN", "Withdrawn"
        FAILED = "FAILED", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    offset_minutes = models.PositiveIntegerField()
    channel = models.CharField(max_length=5, choices=Channel.choices)
    send_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # comms.Message public id (comms owns that table; scheduling keeps only the reference).
    message_id = models.UUIDField(null=True, blank=True)
    outcome = models.CharField(max_length=40, blank=True, help_text="A code, never text")

    tenant_organization_field = "organization"
    tenant_location_field = "appointment__location"

    class Meta:
        ordering = ["send_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "offset_minutes", "channel"], name="reminder_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["send_at"],
                name="reminder_due",
                condition=Q(state="PENDING"),
            )
        ]

    def __str__(self) -> str:
        return f"Reminder {self.public_id}"

"""Delivery tickets: an order for a patient becomes a ticket (items and quantities, ordering
physician, address, HCPCS codes, date of service, method) that moves through explicit states,
and a delivered ticket has one proof of delivery (recipient, relationship, signature image,
time, technician)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinic.models.base import PublicIdModel


class DeliveryMethod(models.TextChoices):
    HOME = "home", "Home delivery by a technician"
    PICKUP = "pickup", "In-clinic pickup"
    SHIPPED = "shipped", "Shipped"


class TicketState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATES = (TicketState.DRAFT, TicketState.SCHEDULED, TicketState.OUT_FOR_DELIVERY)


class DeliveryTicket(PublicIdModel):
    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    # Where the stock comes from (and whose staff handle the ticket).
    location = models.ForeignKey("clinic.Location", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="delivery_tickets"
    )
    physician = models.ForeignKey("patients.Physician", on_delete=models.PROTECT, related_name="+")
    address = models.CharField(max_length=400)
    date_of_service = models.DateField()
    method = models.CharField(max_length=10, choices=DeliveryMethod.choices)
    state = models.CharField(max_length=20, choices=TicketState.choices, default=TicketState.DRAFT)
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tracking_number = models.CharField(max_length=60, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["date_of_service", "id"]
        indexes = [
            models.Index(
                fields=["technician", "date_of_service", "state"], name="ticket_technician_day"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="delivered") | Q(delivered_at__isnull=False),
                name="ticket_delivered_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="failed") | ~Q(failure_reason=""),
                name="ticket_failed_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Ticket {self.reference} ({self.get_state_display()})"

    @property
    def reference(self) -> str:
        """A short code for the ticket (paperwork, stock reservations): no patient data."""
        return f"DT-{str(self.public_id)[:8].upper()}"


class DeliveryLine(models.Model):
    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    ticket = models.ForeignKey(DeliveryTicket, on_delete=models.PROTECT, related_name="lines")
    item = models.ForeignKey("equipment.Item", on_delete=models.PROTECT, related_name="+")
    hcpcs = models.CharField("HCPCS", max_length=5)
    quantity = models.PositiveIntegerField()
    acquisition = models.CharField(max_length=10, default="purchase")
    # Chosen when the ticket is delivered (or earlier); one per unit of a serialized item.
    serial_numbers = models.JSONField(default=list, blank=True)
    reservation = models.ForeignKey(
        "equipment.Reservation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "ticket__location"

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="delivery_line_quantity"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.hcpcs}"


class ProofOfDelivery(PublicIdModel):
    organization = models.ForeignKey(
        "clinic.Organization", on_delete=models.PROTECT, related_name="+"
    )
    ticket = models.OneToOneField(DeliveryTicket, on_delete=models.PROTECT, related_name="proof")
    recipient_name = models.CharField(max_length=200)
    # "self" when the patient signed; otherwise the representative's relationship.
    relationship = models.CharField(max_length=60)
    signature_file = models.CharField(max_length=300)  # storage name (random), never shown
    signature_sha256 = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    tenant_organization_field = "organization"
    tenant_location_field = "ticket__location"

    def __str__(self) -> str:
        return f"Proof of delivery {self.ticket_id}"

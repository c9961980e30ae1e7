"""The technician's phone pages for delivery tickets: today's tickets, take one out, complete it
with the items' serials and a signature (``static/src/signature.js`` wires the pad), or report
it failed. Every page is scoped (``tickets_visible_to``) and audited."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access, audit_record
from clinic.decorators import staff_required
from clinic.errors import ApplicationError, NotFound
from clinic.models import Role, User
from clinic.tenancy import scope_queryset
from clinic.web import actor, form_apply_error, form_submit
from equipment.catalog.models import Item
from equipment.stock.models import SerialStatus, SerialUnit
from equipment.stock.permissions import can_manage_stock_somewhere
from equipment.stock.selectors import stock_manage_locations
from patients.models import Physician
from patients.record.permissions import FULL, access_level
from patients.record.selectors import patient_get_visible

from .forms import CancelForm, DeliverForm, FailForm, TicketForm
from .models import DeliveryMethod, DeliveryTicket, ProofOfDelivery, TicketState
from .permissions import can_manage_tickets_at, can_work_ticket
from .selectors import technician_day, ticket_get_visible, tickets_visible_to
from .services import (
    ticket_cancel,
    ticket_create,
    ticket_deliver,
    ticket_dispatch,
    ticket_fail,
    ticket_schedule,
)

LIST_LIMIT = 200


def _is_technician(user: User) -> bool:
    return user.has_role(Role.FIELD_TECHNICIAN)


field_page = staff_required(check=_is_technician)


@require_GET
@field_page
def my_deliveries(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    tickets = list(technician_day(user, timezone.localdate()))
    for ticket in tickets:
        audit_access(
            actor=user,
            obj=ticket.patient,
            action="patient.viewed",
            details={"delivery": str(ticket.public_id)},
        )
    return render(
        request,
        "equipment/delivery/my_deliveries.html",
        {"tickets": tickets, "day": timezone.localdate()},
    )


def _workable(user: User, public_id: uuid.UUID) -> DeliveryTicket:
    ticket = ticket_get_visible(user, public_id)
    if not can_work_ticket(user, ticket):
        raise NotFound("That delivery ticket does not exist.")
    return ticket


@require_POST
@staff_required
def ticket_start(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    ticket = _workable(user, public_id)
    try:
        ticket_dispatch(actor=user, ticket=ticket)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("equipment:my_deliveries")
    return redirect("equipment:ticket_complete", public_id=ticket.public_id)


def _complete_page(
    request: HttpRequest,
    ticket: DeliveryTicket,
    form: DeliverForm,
    *,
    serials: dict[int, str] | None = None,
    fail_form: FailForm | None = None,
    status: int = 200,
) -> HttpResponse:
    serials = serials or {}
    all_lines = list(ticket.lines.all())
    # The units on the shelf to pick from (a hint; the service checks what is typed).
    serialized = [line.item_id for line in all_lines if line.item.serialized]
    in_stock: dict[int, list[str]] = {item_id: [] for item_id in serialized}
    units = SerialUnit.objects.filter(
        item_id__in=serialized, location=ticket.location, status=SerialStatus.IN_STOCK
    ).order_by("serial_number")
    for item_id, number in units.values_list("item_id", "serial_number")[:200]:
        in_stock[item_id].append(number)
    lines = [
        (line, serials.get(line.pk, "\n".join(line.serial_numbers)), in_stock.get(line.item_id))
        for line in all_lines
    ]
    return render(
        request,
        "equipment/delivery/complete.html",
        {
            "ticket": ticket,
            "patient": ticket.patient,
            "lines": lines,
            "form": form,
            "fail_form": fail_form or FailForm(),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@staff_required
def ticket_complete(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    ticket = _workable(user, public_id)
    audit_access(
        actor=user,
        obj=ticket.patient,
        action="patient.viewed",
        details={"delivery": str(ticket.public_id)},
    )
    if request.method == "GET":
        return _complete_page(request, ticket, DeliverForm())
    form = DeliverForm(request.POST)
    serials = {
        line.pk: request.POST.get(f"serials-{line.pk}", "")
        for line in ticket.lines.all()
        if line.item.serialized
    }
    if form.is_valid():
        data = form.cleaned_data
        if data["signer"] == "patient":
            name = f"{ticket.patient.first_name} {ticket.patient.last_name}"
            relationship = "self"
        else:
            name, relationship = data["representative_name"], data["relationship"]
        try:
            ticket_deliver(
                actor=user,
                ticket=ticket,
                recipient_name=name,
                relationship=relationship,
                signature_data_url=request.POST.get("signature", ""),
                serial_numbers=serials,
            )
        except ApplicationError as exc:
            form_apply_error(form, exc)
        else:
            messages.success(request, f"Ticket {ticket.reference} delivered.")
            return redirect("equipment:my_deliveries")
    return _complete_page(request, ticket, form, serials=serials, status=400)


@require_POST
@staff_required
def ticket_fail_view(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    ticket = _workable(user, public_id)
    fail_form = FailForm(request.POST)
    if fail_form.is_valid():
        try:
            ticket_fail(actor=user, ticket=ticket, reason=fail_form.cleaned_data["reason"])
        except ApplicationError as exc:
            form_apply_error(fail_form, exc)
        else:
            messages.success(request, f"Ticket {ticket.reference} reported failed.")
            return redirect(reverse("equipment:my_deliveries"))
    return _complete_page(request, ticket, DeliverForm(), fail_form=fail_form, status=400)


# ------------------------------------------------------------------------- office pages

office_page = staff_required(check=can_manage_stock_somewhere)


@require_GET
@office_page
def ticket_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    state = request.GET.get("state", "")
    tickets = tickets_visible_to(user).select_related("patient", "location", "technician")
    if state in TicketState.values:
        tickets = tickets.filter(state=state)
    rows = list(tickets.order_by("-date_of_service", "-id")[:LIST_LIMIT])
    audit_record(actor=user, action="delivery.listed", details={"count": len(rows), "state": state})
    return render(
        request,
        "equipment/delivery/list.html",
        {"tickets": rows, "states": TicketState.choices, "state": state, "limit": LIST_LIMIT},
    )


@require_http_methods(["GET", "POST"])
@office_page
def ticket_new(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    try:
        patient_id = uuid.UUID(request.GET.get("patient", ""))
    except ValueError as exc:
        raise NotFound("Choose a patient first (from the patient's Equipment tab).") from exc
    patient = patient_get_visible(user, patient_id)
    if access_level(user, patient) != FULL:
        raise NotFound("That patient does not exist or is not available to you.")
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"page": "delivery"})
    locations = stock_manage_locations(user)
    kwargs: dict[str, Any] = {
        "locations": locations,
        "physicians": scope_queryset(Physician.objects.all(), user),
        "technicians": User.objects.filter(
            is_active=True,
            memberships__location__in=locations,
            memberships__role=Role.FIELD_TECHNICIAN,
        )
        .distinct()
        .order_by("full_name"),
        "items": Item.objects.filter(organization=user.organization, is_active=True),
    }
    if request.method == "GET":
        form = TicketForm(
            initial={
                "location": patient.home_location_id,
                "physician": patient.referring_physician_id,
                "date_of_service": timezone.localdate(),
                "method": DeliveryMethod.HOME,
            },
            **kwargs,
        )
        return render(request, "equipment/delivery/new.html", {"form": form, "patient": patient})
    form = TicketForm(request.POST, **kwargs)
    response = form_submit(
        request,
        form,
        lambda data: ticket_create(actor=user, patient=patient, **data),
        success=lambda t: f"Ticket {t.reference} created as a draft.",
        redirect_to=lambda t: reverse("equipment:ticket", kwargs={"public_id": t.public_id}),
    )
    if response is not None:
        return response
    return render(
        request, "equipment/delivery/new.html", {"form": form, "patient": patient}, status=400
    )


def _office_ticket(user: User, public_id: uuid.UUID) -> DeliveryTicket:
    ticket = ticket_get_visible(user, public_id)
    if not can_manage_tickets_at(user, ticket.location):
        raise NotFound("That delivery ticket does not exist.")
    return ticket


@require_GET
@office_page
def ticket_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    ticket = _office_ticket(user, public_id)
    audit_access(
        actor=user,
        obj=ticket.patient,
        action="patient.viewed",
        details={"delivery": str(ticket.public_id)},
    )
    proof = ProofOfDelivery.objects.filter(ticket=ticket).first()
    return render(
        request,
        "equipment/delivery/detail.html",
        {"ticket": ticket, "proof": proof, "cancel_form": CancelForm()},
    )


@require_POST
@office_page
def ticket_action(request: HttpRequest, public_id: uuid.UUID, action: str) -> HttpResponse:
    user = actor(request)
    ticket = _office_ticket(user, public_id)
    try:
        if action == "schedule":
            ticket_schedule(actor=user, ticket=ticket)
            messages.success(request, "Scheduled: the items are reserved.")
        elif action == "cancel":
            form = CancelForm(request.POST)
            reason = form.cleaned_data["reason"] if form.is_valid() else ""
            ticket_cancel(actor=user, ticket=ticket, reason=reason)
            messages.success(request, "Ticket cancelled.")
        else:
            raise NotFound("No such action.")
    except NotFound:
        raise
    except ApplicationError as exc:
        proof = ProofOfDelivery.objects.filter(ticket=ticket).first()
        return render(
            request,
            "equipment/delivery/detail.html",
            {"ticket": ticket, "proof": proof, "cancel_form": CancelForm(), "error": exc.message},
            status=400,
        )
    return redirect("equipment:ticket", public_id=ticket.public_id)

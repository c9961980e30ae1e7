"""The technician's phone pages for delivery tickets: today's tickets, take one out, complete it
with the items' serials and a signature (``static/src/signature.js`` wires the pad), or report
it failed. Every page is scoped (``tickets_visible_to``) and audited."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access
from clinic.decorators import staff_required
from clinic.errors import ApplicationError, NotFound
from clinic.models import Role, User
from clinic.web import actor, form_apply_error

from .forms import DeliverForm, FailForm
from .models import DeliveryTicket
from .permissions import can_work_ticket
from .selectors import technician_day, ticket_get_visible
from .services import ticket_deliver, ticket_dispatch, ticket_fail


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
    lines = [
        (line, serials.get(line.pk, "\n".join(line.serial_numbers))) for line in ticket.lines.all()
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

"""Portal pages of stock: balances per location, the action forms (receive, transfer, adjust,
reserve, dispense, reorder point), the low-stock list, the ledger, reservations, and one page
per serial unit with its history and actions.

Every read comes through ``selectors`` (the user's organization and locations); every write is
one service call, whose refusal is shown on the form (never a 500).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access
from clinic.decorators import staff_required
from clinic.errors import ApplicationError, NotFound
from clinic.models import Location
from clinic.tenancy import visible_locations
from clinic.web import actor, form_submit
from patients.record.selectors import patients_visible_to

from .forms import (
    AdjustForm,
    DispenseForm,
    ReceiveForm,
    ReorderPointForm,
    ReservationDispenseForm,
    ReserveForm,
    SerialNoteForm,
    SerialReturnForm,
    StockForm,
    TransferForm,
)
from .models import Reservation, SerialStatus, SerialUnit
from .permissions import (
    can_dispense_at,
    can_dispense_somewhere,
    can_manage_stock_at,
    can_manage_stock_somewhere,
    can_use_stock,
)
from .selectors import (
    active_reservations_visible_to,
    balances_visible_to,
    low_stock_visible_to,
    movements_visible_to,
    serial_history,
    serials_visible_to,
)
from .services import (
    reorder_point_set,
    reservation_dispense,
    reservation_release,
    serial_repaired,
    serial_retire,
    serial_return,
    serial_send_for_repair,
    stock_adjust,
    stock_dispense,
    stock_receive,
    stock_reserve,
    stock_transfer,
)

LEDGER_PAGE_SIZE = 100
SERIAL_PAGE_SIZE = 100

use_guard = staff_required(check=can_use_stock)
manage_guard = staff_required(check=can_manage_stock_somewhere)
dispense_guard = staff_required(check=can_dispense_somewhere)


def _location_filter(request: HttpRequest) -> tuple[list[Location], Location | None]:
    locations = list(visible_locations(actor(request)))
    wanted = request.GET.get("location", "")
    chosen = next((loc for loc in locations if str(loc.public_id) == wanted), None)
    return locations, chosen


@require_GET
@use_guard
def stock_overview(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    locations, chosen = _location_filter(request)
    balances = balances_visible_to(user).filter(item__is_active=True)
    if chosen is not None:
        balances = balances.filter(location=chosen)
    return render(
        request,
        "equipment/stock/overview.html",
        {
            "balances": list(balances),
            "locations": locations,
            "chosen": chosen,
            "can_manage": can_manage_stock_somewhere(user),
            "can_dispense": can_dispense_somewhere(user),
            "reservations": list(active_reservations_visible_to(user)[:50]),
        },
    )


@require_GET
@use_guard
def low_stock(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "equipment/stock/low_stock.html",
        {"balances": list(low_stock_visible_to(actor(request)))},
    )


@require_GET
@use_guard
def movements(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    locations, chosen = _location_filter(request)
    rows = movements_visible_to(user)
    if chosen is not None:
        rows = rows.filter(location=chosen)
    return render(
        request,
        "equipment/stock/movements.html",
        {"rows": list(rows[:LEDGER_PAGE_SIZE]), "locations": locations, "chosen": chosen},
    )


# ------------------------------------------------------------------------- action forms


def _action(
    request: HttpRequest,
    form_class: type[StockForm],
    call: Callable[[dict[str, Any]], Any],
    *,
    title: str,
    lede: str,
    submit: str,
    success: str | Callable[[Any], str],
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """One stock action page: GET shows the form (prefilled from ?location=&item=), POST runs
    the service and goes back to the stock page, or shows the refusal on the form (400)."""
    user = actor(request)
    initial = {k: request.GET[k] for k in ("location", "item") if request.GET.get(k)}
    form = form_class(
        request.POST if request.method == "POST" else None, user=user, initial=initial
    )
    if request.method == "POST":
        response = form_submit(
            request, form, call, success=success, redirect_to=reverse("equipment:stock")
        )
        if response is not None:
            return response
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "title": title, "lede": lede, "submit": submit, **(extra or {})}
    return render(request, "equipment/stock/action.html", context, status=status)


def _units(n: int) -> str:
    return f"{n} unit{'s' if n != 1 else ''}"


@require_http_methods(["GET", "POST"])
@manage_guard
def receive(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    return _action(
        request,
        ReceiveForm,
        lambda d: stock_receive(actor=user, **d),
        title="Receive stock",
        lede="Units arriving at a location. Serialized items need one serial number per unit.",
        submit="Receive",
        success=lambda moves: f"Received {_units(sum(m.on_hand_delta for m in moves))}.",
    )


@require_http_methods(["GET", "POST"])
@manage_guard
def transfer(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    return _action(
        request,
        TransferForm,
        lambda d: stock_transfer(
            actor=user,
            from_location=d["location"],
            to_location=d["to_location"],
            item=d["item"],
            quantity=d["quantity"],
            serial_numbers=d["serial_numbers"],
        ),
        title="Transfer stock",
        lede="Move available (not reserved) units to another location.",
        submit="Transfer",
        success="Transferred.",
    )


@require_http_methods(["GET", "POST"])
@manage_guard
def adjust(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    return _action(
        request,
        AdjustForm,
        lambda d: stock_adjust(actor=user, **d),
        title="Adjust stock",
        lede="Correct the count of a non-serialized item, with the reason.",
        submit="Adjust",
        success="Adjusted.",
    )


@require_http_methods(["GET", "POST"])
@manage_guard
def reserve(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    return _action(
        request,
        ReserveForm,
        lambda d: stock_reserve(actor=user, **d),
        title="Reserve stock",
        lede="Hold available units for a scheduled delivery.",
        submit="Reserve",
        success=lambda r: f"Reserved {_units(r.quantity)}.",
    )


@require_http_methods(["GET", "POST"])
@dispense_guard
def dispense(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    return _action(
        request,
        DispenseForm,
        lambda d: stock_dispense(actor=user, **d),
        title="Dispense stock",
        lede="Hand out available units. Serialized units go to a patient, named by MRN.",
        submit="Dispense",
        success=lambda moves: f"Dispensed {_units(-sum(m.on_hand_delta for m in moves))}.",
    )


@require_http_methods(["GET", "POST"])
@manage_guard
def reorder_point(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    return _action(
        request,
        ReorderPointForm,
        lambda d: reorder_point_set(actor=user, **d),
        title="Set a reorder point",
        lede="When the available units fall below it, the item is listed as low and the "
        "location's office staff and the administrators are notified.",
        submit="Save",
        success="Reorder point saved.",
    )


# ------------------------------------------------------------------------- reservations


def _reservation(request: HttpRequest, public_id: uuid.UUID) -> Reservation:
    found = active_reservations_visible_to(actor(request)).filter(public_id=public_id).first()
    if found is None:
        raise NotFound("That reservation does not exist or is closed.")
    return found


@require_POST
@manage_guard
def reservation_release_view(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    reservation = _reservation(request, public_id)
    try:
        reservation_release(actor=actor(request), reservation=reservation)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Reservation released.")
    return redirect("equipment:stock")


@require_http_methods(["GET", "POST"])
@dispense_guard
def reservation_dispense_view(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    reservation = _reservation(request, public_id)
    if not can_dispense_at(user, reservation.location):
        raise NotFound("That reservation does not exist or is closed.")
    return _action(
        request,
        ReservationDispenseForm,
        lambda d: reservation_dispense(actor=user, reservation=reservation, **d),
        title="Dispense a reservation",
        lede=f"{reservation.quantity} x {reservation.item} at {reservation.location}.",
        submit="Dispense",
        success="Dispensed.",
    )


# ------------------------------------------------------------------------- serial units


@require_GET
@use_guard
def serial_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    q = request.GET.get("q", "").strip()[:60]
    units = serials_visible_to(user)
    if q:
        units = units.filter(serial_number__icontains=q)
    return render(
        request,
        "equipment/stock/serials.html",
        {"units": list(units.order_by("serial_number")[:SERIAL_PAGE_SIZE]), "q": q},
    )


def _serial(request: HttpRequest, public_id: uuid.UUID) -> SerialUnit:
    unit = serials_visible_to(actor(request)).filter(public_id=public_id).first()
    if unit is None:
        raise NotFound("That serial number does not exist or is not available to you.")
    return unit


@require_GET
@use_guard
def serial_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    unit = _serial(request, public_id)
    events = list(serial_history(unit))
    patient_ids = {e.patient_id for e in events if e.patient_id} | (
        {unit.patient_id} if unit.patient_id else set()
    )
    visible = set(patients_visible_to(user).filter(pk__in=patient_ids).values_list("pk", flat=True))
    if visible:
        audit_access(actor=user, obj=unit, action="serial.viewed")
    manage = can_manage_stock_at(user, unit.location)
    return render(
        request,
        "equipment/stock/serial_detail.html",
        {
            "unit": unit,
            "events": events,
            "visible_patients": visible,
            "can_manage": manage,
            "can_return": unit.status == SerialStatus.ASSIGNED and can_dispense_somewhere(user),
            "return_form": SerialReturnForm(user=user),
            "note_form": SerialNoteForm(),
        },
    )


_SERIAL_ACTIONS: dict[str, tuple[Callable[..., SerialUnit], str]] = {
    "repair": (serial_send_for_repair, "Sent for repair."),
    "repaired": (serial_repaired, "Back in stock from repair."),
    "retire": (serial_retire, "Retired."),
}


@require_POST
@use_guard
def serial_action(request: HttpRequest, public_id: uuid.UUID, action: str) -> HttpResponse:
    user = actor(request)
    unit = _serial(request, public_id)
    form: forms.Form
    try:
        if action == "return":
            form = SerialReturnForm(request.POST, user=user)
            if not form.is_valid():
                raise ApplicationError("Choose where the unit goes back into stock.")
            serial_return(actor=user, unit=unit, location=form.cleaned_data["location"])
            messages.success(request, "Returned into stock.")
        elif action in _SERIAL_ACTIONS:
            service, done = _SERIAL_ACTIONS[action]
            form = SerialNoteForm(request.POST)
            note = form.cleaned_data["note"] if form.is_valid() else ""
            service(actor=user, unit=unit, note=note)
            messages.success(request, done)
        else:
            raise NotFound("No such action.")
    except NotFound:
        raise
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("equipment:serial_detail", public_id=unit.public_id)

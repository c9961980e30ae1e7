"""Portal pages of the charges ledger: the list per location with filters, the held-charges
work queue, and the Charges tab of a patient's record. Lists name patients, so each view is
audited (ids only)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinic.audit.services import audit_access
from clinic.decorators import staff_required
from clinic.models import Location, Organization, User
from clinic.tenancy import visible_locations
from clinic.web import actor
from patients.record.permissions import FULL, access_level
from patients.record.selectors import patient_get_visible

from ..permissions import can_use_billing
from .forms import ChargeFilterForm
from .models import Charge
from .selectors import billing_location_ids, charges_filtered, held_queue, patient_charges

PAGE_SIZE = 100
guard = staff_required(check=can_use_billing)


def _locations(request: HttpRequest) -> list[Location]:
    user = actor(request)
    locations = list(visible_locations(user))
    if not user.is_org_admin:
        mine = billing_location_ids(user)
        locations = [loc for loc in locations if loc.pk in mine]
    return locations


def _organization(user: User) -> Organization:
    if user.organization is None:  # staff_required lets only organization members in
        raise Http404
    return user.organization


def _total(rows: list[Charge]) -> Decimal:
    return sum((c.amount for c in rows if c.amount is not None), Decimal("0.00"))


@require_GET
@guard
def charge_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = ChargeFilterForm(request.GET or None, locations=_locations(request))
    if request.GET and not form.is_valid():
        context = {"form": form, "rows": [], "total": None, "limit": PAGE_SIZE}
        return render(request, "billing/charges/list.html", context, status=400)
    data = form.cleaned_data if request.GET else {}
    chosen = data.get("location")
    rows = list(
        charges_filtered(
            user,
            location_id=chosen.pk if chosen else None,
            status=data.get("status", ""),
            kind=data.get("kind", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )[:PAGE_SIZE]
    )
    audit_access(
        actor=user,
        obj=chosen or _organization(user),
        action="charges.viewed",
        details={"rows": len(rows)},
    )
    context = {"form": form, "rows": rows, "total": _total(rows), "limit": PAGE_SIZE}
    return render(request, "billing/charges/list.html", context)


@require_GET
@guard
def held_charges(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    rows = list(held_queue(user)[:PAGE_SIZE])
    audit_access(
        actor=user,
        obj=_organization(user),
        action="held_charges.viewed",
        details={"rows": len(rows)},
    )
    return render(request, "billing/charges/held.html", {"rows": rows, "limit": PAGE_SIZE})


@require_GET
@guard
def patient_charges_tab(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = patient_get_visible(user, public_id)
    if access_level(user, patient) != FULL:
        raise Http404
    rows = list(patient_charges(user, patient)[:PAGE_SIZE])
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": "charges"})
    return render(
        request,
        "billing/charges/patient.html",
        {"patient": patient, "rows": rows, "total": _total(rows), "limit": PAGE_SIZE},
    )

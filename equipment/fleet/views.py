"""The patient record's Equipment tab: what the patient has, with the rental month count, and
the office's forms to add an item and count a rental month. Every view is scoped to patients
the user may open and audited as ``patient.viewed``."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from clinic.audit.services import audit_access
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.models import User
from clinic.web import actor, form_submit
from equipment.stock.permissions import can_manage_stock_somewhere
from patients.models import Patient
from patients.record.permissions import access_level
from patients.record.selectors import patient_get_visible

from .forms import EquipmentForm, RentalMonthForm
from .models import RENTAL_CAP_MONTHS
from .permissions import can_manage_equipment, can_view_equipment
from .selectors import equipment_get_visible, equipment_of_patient
from .services import equipment_record, rental_month_record


def _tab(
    request: HttpRequest,
    user: User,
    patient: Patient,
    *,
    form: EquipmentForm | None = None,
    rental_error: tuple[uuid.UUID, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    manage = can_manage_equipment(user, patient)
    if manage and form is None:
        form = EquipmentForm(organization_id=patient.organization_id)
    rows = list(equipment_of_patient(user, patient))
    return render(
        request,
        "equipment/fleet/patient_tab.html",
        {
            "patient": patient,
            "full": access_level(user, patient) == "full",
            "current": [r for r in rows if r.removed_on is None],
            "removed": [r for r in rows if r.removed_on is not None],
            "form": form if manage else None,
            "can_manage": manage,
            "can_order": manage and can_manage_stock_somewhere(user),
            "rental_form": RentalMonthForm(),
            "rental_error": rental_error,
            "cap": RENTAL_CAP_MONTHS,
        },
        status=status,
    )


def _visible_patient(user: User, public_id: uuid.UUID) -> Patient:
    patient = patient_get_visible(user, public_id)
    if not can_view_equipment(user, patient):
        raise Http404
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": "equipment"})
    return patient


@require_http_methods(["GET", "POST"])
@staff_required
def patient_equipment(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = _visible_patient(user, public_id)
    if request.method == "GET":
        return _tab(request, user, patient)
    if not can_manage_equipment(user, patient):
        raise Http404
    form = EquipmentForm(request.POST, organization_id=patient.organization_id)

    def call(data: dict[str, Any]) -> Any:
        return equipment_record(actor=user, patient=patient, **data)

    response = form_submit(
        request,
        form,
        call,
        success="Equipment recorded.",
        redirect_to=reverse("equipment:patient_equipment", kwargs={"public_id": public_id}),
    )
    return response or _tab(request, user, patient, form=form, status=400)


@require_POST
@staff_required
def rental_month_add(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    record = equipment_get_visible(user, public_id)
    patient = _visible_patient(user, record.patient.public_id)
    if not can_manage_equipment(user, patient):
        raise Http404
    form = RentalMonthForm(request.POST)
    tab_url = reverse("equipment:patient_equipment", kwargs={"public_id": patient.public_id})
    if form.is_valid():
        try:
            rental_month_record(actor=user, record=record, starts_on=form.cleaned_data["starts_on"])
        except ApplicationError as exc:
            return _tab(
                request, user, patient, rental_error=(record.public_id, exc.message), status=400
            )
        messages.success(request, "Rental month recorded.")
        return redirect(tab_url)
    message = "Enter the date the month starts."
    return _tab(request, user, patient, rental_error=(record.public_id, message), status=400)

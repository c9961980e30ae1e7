"""Portal pages of fee schedules: the list (with a form to add one), one schedule with its lines
(and a form to add a line), and the codes billed per appointment type. Everyone with billing
access reads them; only an ADMIN's forms are shown and accepted."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.tenancy import get_scoped, scope_queryset
from clinic.web import actor, form_submit
from patients.models import Payer
from scheduling.models import AppointmentType

from ..permissions import can_manage_fees, can_use_billing
from .forms import BillableCodeForm, FeeLineForm, FeeScheduleForm
from .selectors import billable_codes_visible_to, schedules_visible_to
from .services import billable_code_add, billable_code_remove, fee_line_add, fee_schedule_create

guard = staff_required(check=can_use_billing)


@require_http_methods(["GET", "POST"])
@guard
def schedule_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    manage = can_manage_fees(user)
    if request.method == "POST" and not manage:
        raise Http404
    schedules = list(schedules_visible_to(user))
    taken = {s.payer_id for s in schedules}
    payers = [p for p in scope_queryset(Payer.objects.order_by("name"), user) if p.pk not in taken]
    form = FeeScheduleForm(request.POST if request.method == "POST" else None, payers=payers)
    if request.method == "POST":
        response = form_submit(
            request,
            form,
            lambda d: fee_schedule_create(actor=user, payer=d["payer"], name=d["name"]),
            success=lambda s: f"Created {s.name}.",
            redirect_to=lambda s: reverse("billing:fee_schedule", args=[s.public_id]),
        )
        if response is not None:
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "billing/fees/list.html",
        {"schedules": schedules, "form": form if manage else None},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@guard
def schedule_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    schedule = get_scoped(schedules_visible_to(user), user, public_id=public_id)
    manage = can_manage_fees(user)
    if request.method == "POST" and not manage:
        raise Http404
    form = FeeLineForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        response = form_submit(
            request,
            form,
            lambda d: fee_line_add(actor=user, schedule=schedule, **d),
            success=lambda line: f"Added {line}.",
            redirect_to=request.path,
        )
        if response is not None:
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "billing/fees/detail.html",
        {
            "schedule": schedule,
            "lines": list(schedule.lines.all()),
            "form": form if manage else None,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@guard
def billable_codes(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    manage = can_manage_fees(user)
    if request.method == "POST" and not manage:
        raise Http404
    types = list(scope_queryset(AppointmentType.objects.filter(is_active=True), user))
    form = BillableCodeForm(request.POST if request.method == "POST" else None, types=types)
    if request.method == "POST":
        response = form_submit(
            request,
            form,
            lambda d: billable_code_add(actor=user, **d),
            success=lambda b: f"{b.appointment_type.name} now bills {b.code}.",
            redirect_to=reverse("billing:billable_codes"),
        )
        if response is not None:
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "billing/fees/billable.html",
        {"rows": list(billable_codes_visible_to(user)), "form": form if manage else None},
        status=status,
    )


@require_POST
@staff_required(check=can_manage_fees)
def billable_code_remove_view(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    row = get_scoped(billable_codes_visible_to(user), user, public_id=public_id)
    try:
        billable_code_remove(actor=user, billable=row)
    except ApplicationError as exc:
        return render(request, "billing/fees/billable.html", {"error": exc.message}, status=400)
    messages.success(request, f"{row.appointment_type.name} no longer bills {row.code}.")
    return redirect("billing:billable_codes")

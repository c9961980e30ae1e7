"""Portal pages of referrals and authorizations: the referral work queue, a referral with its
status actions, a patient's referrals (and receiving a new one), a patient's authorizations
(add, edit, use units) and the list of authorizations that expire soon.

Every patient comes through ``patients_visible_to`` (the patients app's scoping), so a referral
or authorization of a patient the user may not see is a 404. EMPLOYEE and ADMIN work them;
CLINICIAN reads; FIELD_TECHNICIAN and SUPPORT get 404 everywhere.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access
from clinic.decorators import staff_required
from clinic.errors import NotFound
from clinic.models import User
from clinic.tenancy import scope_queryset
from clinic.times import local_today
from clinic.web import actor, form_submit
from patients.models import (
    Authorization,
    Patient,
    Physician,
    Referral,
    ReferralStatus,
)
from patients.record.selectors import patient_get_visible, patients_visible_to
from patients.referrals import services
from patients.referrals.forms import (
    AdvanceForm,
    AssignForm,
    AuthorizationForm,
    DocumentsForm,
    ReferralForm,
    UnitsForm,
)
from patients.referrals.permissions import can_see_referrals, can_use_referrals, can_work_referrals

guard = staff_required(check=can_use_referrals)

QUEUE_PAGE_SIZE = 50


def _patient(user: User, public_id: uuid.UUID) -> Patient:
    patient = patient_get_visible(user, public_id)
    if not can_see_referrals(user, patient):
        raise Http404
    return patient


def _visible(user: User, qs: QuerySet[Any]) -> QuerySet[Any]:
    return scope_queryset(qs, user).filter(patient__in=patients_visible_to(user))


def _referral(user: User, public_id: uuid.UUID) -> Referral:
    try:
        referral: Referral = (
            _visible(user, Referral.objects.all())
            .select_related(
                "patient", "patient__home_location", "physician", "assigned_to", "created_by"
            )
            .get(public_id=public_id)
        )
    except (Referral.DoesNotExist, ValueError) as exc:
        raise NotFound("That referral does not exist or is not available to you.") from exc
    return referral


def _authorization(user: User, public_id: uuid.UUID) -> Authorization:
    try:
        authorization: Authorization = (
            _visible(user, Authorization.objects.all())
            .select_related("patient", "patient__home_location", "payer")
            .get(public_id=public_id)
        )
    except (Authorization.DoesNotExist, ValueError) as exc:
        raise NotFound("That authorization does not exist or is not available to you.") from exc
    return authorization


# -- referrals ---------------------------------------------------------------------------------


def _cursor(text: str) -> tuple[date, int] | None:
    try:
        day, pk = text.split("_", 1)
        return date.fromisoformat(day), int(pk)
    except ValueError:
        return None


@guard
@require_GET
def referral_queue(request: HttpRequest) -> HttpResponse:
    """Open referrals, oldest first; filters by status, "assigned to me" and physician."""
    user = actor(request)
    status = request.GET.get("status", "")
    mine = request.GET.get("mine") == "1"
    physician_id = request.GET.get("physician", "")
    qs = _visible(user, Referral.objects.all())
    if status in ReferralStatus.values:
        qs = qs.filter(status=status)
    elif status != "all":
        status = ""
        qs = qs.exclude(status=ReferralStatus.CLOSED)
    if mine:
        qs = qs.filter(assigned_to=user)
    physicians = list(
        Physician.objects.filter(organization_id=user.organization_id or 0).order_by(
            "last_name", "first_name", "pk"
        )[:300]
    )
    if physician_id:
        try:
            qs = qs.filter(physician__public_id=uuid.UUID(physician_id))
        except ValueError:
            physician_id = ""
    after = _cursor(request.GET.get("after", ""))
    if after:
        qs = qs.filter(Q(received_on__gt=after[0]) | Q(received_on=after[0], pk__gt=after[1]))
    rows = list(
        qs.select_related("patient", "physician", "assigned_to").order_by("received_on", "pk")[
            : QUEUE_PAGE_SIZE + 1
        ]
    )
    more = len(rows) > QUEUE_PAGE_SIZE
    rows = rows[:QUEUE_PAGE_SIZE]
    next_query = ""
    if more:
        params = request.GET.copy()
        last = rows[-1]
        params["after"] = f"{last.received_on.isoformat()}_{last.pk}"
        next_query = params.urlencode()
    context = {
        "rows": rows,
        "more": more,
        "next_query": next_query,
        "status": status,
        "statuses": ReferralStatus.choices,
        "mine": mine,
        "physicians": physicians,
        "physician_id": physician_id,
        "today": local_today(user),
    }
    return render(request, "patients/referrals/queue.html", context)


def _referral_page(
    request: HttpRequest,
    referral: Referral,
    *,
    advance_form: AdvanceForm | None = None,
    assign_form: AssignForm | None = None,
    documents_form: DocumentsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = actor(request)
    patient = referral.patient
    linked = list(
        referral.documents.filter(entered_in_error=False).select_related("current_version")
    )
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": "referral"})
    can_work = can_work_referrals(user, patient)
    next_status = services.REFERRAL_NEXT.get(referral.status)
    context = {
        "referral": referral,
        "patient": patient,
        "changes": referral.status_changes.select_related("changed_by"),
        "can_work": can_work,
        "next_status": ReferralStatus(next_status) if next_status else None,
        "advance_form": advance_form or AdvanceForm(),
        "assign_form": assign_form
        or AssignForm(
            patient=patient,
            initial={"assignee": referral.assigned_to.public_id if referral.assigned_to else None},
        ),
        "documents": linked,
        "documents_form": documents_form
        or DocumentsForm(
            user=user, patient=patient, initial={"documents": [d.public_id for d in linked]}
        ),
        "tz": patient.home_location.timezone,
    }
    return render(request, "patients/referrals/detail.html", context, status=status)


@guard
@require_GET
def referral_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    referral = _referral(actor(request), public_id)
    return _referral_page(request, referral)


@guard
@require_POST
def referral_status(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    referral = _referral(user, public_id)
    if not can_work_referrals(user, referral.patient):
        raise Http404
    form = AdvanceForm(request.POST)
    response = form_submit(
        request,
        form,
        lambda data: services.referral_advance(
            actor=user, referral=referral, to=data["to"], note=data["note"]
        ),
        success=lambda _: (
            f"Referral marked {ReferralStatus(form.cleaned_data['to']).label.lower()}."
        ),
        redirect_to=reverse("patients:referral_detail", kwargs={"public_id": referral.public_id}),
    )
    if response is not None:
        return response
    return _referral_page(request, referral, advance_form=form, status=400)


@guard
@require_POST
def referral_assign(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    referral = _referral(user, public_id)
    if not can_work_referrals(user, referral.patient):
        raise Http404
    form = AssignForm(request.POST, patient=referral.patient)
    response = form_submit(
        request,
        form,
        lambda data: services.referral_assign(
            actor=user, referral=referral, assignee=data["assignee"]
        ),
        success="Assignment saved.",
        redirect_to=reverse("patients:referral_detail", kwargs={"public_id": referral.public_id}),
    )
    if response is not None:
        return response
    return _referral_page(request, referral, assign_form=form, status=400)


@guard
@require_POST
def referral_documents(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    referral = _referral(user, public_id)
    if not can_work_referrals(user, referral.patient):
        raise Http404
    form = DocumentsForm(request.POST, user=user, patient=referral.patient)
    response = form_submit(
        request,
        form,
        lambda data: services.referral_documents_set(
            actor=user, referral=referral, documents=list(data["documents"])
        ),
        success="Linked documents saved.",
        redirect_to=reverse("patients:referral_detail", kwargs={"public_id": referral.public_id}),
    )
    if response is not None:
        return response
    return _referral_page(request, referral, documents_form=form, status=400)


@guard
@require_http_methods(["GET", "POST"])
def patient_referrals(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """A patient's referrals and the form to record a new one."""
    user = actor(request)
    patient = _patient(user, public_id)
    can_work = can_work_referrals(user, patient)
    form = ReferralForm(patient=patient)
    status = 200
    if request.method == "POST":
        if not can_work:
            raise Http404
        form = ReferralForm(request.POST, patient=patient)
        response = form_submit(
            request,
            form,
            lambda data: services.referral_receive(
                actor=user,
                patient=patient,
                physician=data["physician"],
                received_on=data["received_on"],
                reason=data["reason"],
            ),
            success="Referral recorded.",
            redirect_to=lambda referral: reverse(
                "patients:referral_detail", kwargs={"public_id": referral.public_id}
            ),
        )
        if response is not None:
            return response
        status = 400
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": "referrals"})
    context = {
        "patient": patient,
        "tab": "referrals",
        "referrals": patient.referrals.select_related("physician", "assigned_to").order_by(
            "-received_on", "-pk"
        ),
        "form": form,
        "can_work": can_work,
    }
    return render(request, "patients/referrals/patient.html", context, status=status)


# -- authorizations ----------------------------------------------------------------------------


def _authorizations_page(
    request: HttpRequest,
    patient: Patient,
    *,
    form: AuthorizationForm | None = None,
    units_form: UnitsForm | None = None,
    units_for: int | None = None,
    status: int = 200,
) -> HttpResponse:
    user = actor(request)
    audit_access(
        actor=user, obj=patient, action="patient.viewed", details={"tab": "authorizations"}
    )
    context = {
        "patient": patient,
        "tab": "authorizations",
        "authorizations": patient.authorizations.select_related("payer").order_by(
            "-valid_to", "-pk"
        ),
        "form": form or AuthorizationForm(patient=patient),
        "units_form": units_form,
        "units_for": units_for,
        "can_work": can_work_referrals(user, patient),
        "today": timezone.localdate(),
    }
    return render(request, "patients/referrals/authorizations.html", context, status=status)


@guard
@require_http_methods(["GET", "POST"])
def patient_authorizations(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = _patient(user, public_id)
    if request.method != "POST":
        return _authorizations_page(request, patient)
    if not can_work_referrals(user, patient):
        raise Http404
    form = AuthorizationForm(request.POST, patient=patient)
    response = form_submit(
        request,
        form,
        lambda data: services.authorization_add(
            actor=user, patient=patient, data=form.data_object()
        ),
        success="Authorization added.",
        redirect_to=reverse("patients:authorizations", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _authorizations_page(request, patient, form=form, status=400)


@guard
@require_http_methods(["GET", "POST"])
def authorization_edit(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    authorization = _authorization(user, public_id)
    patient = authorization.patient
    if not can_work_referrals(user, patient):
        raise Http404
    status = 200
    if request.method == "POST":
        form = AuthorizationForm(request.POST, patient=patient)
        response = form_submit(
            request,
            form,
            lambda data: services.authorization_update(
                actor=user, authorization=authorization, data=form.data_object()
            ),
            success="Authorization saved.",
            redirect_to=reverse("patients:authorizations", kwargs={"public_id": patient.public_id}),
        )
        if response is not None:
            return response
        status = 400
    else:
        form = AuthorizationForm(
            patient=patient,
            initial={
                "payer": authorization.payer.public_id,
                "number": authorization.number,
                "codes": ", ".join(authorization.codes),
                "units_approved": authorization.units_approved,
                "valid_from": authorization.valid_from,
                "valid_to": authorization.valid_to,
            },
        )
    audit_access(
        actor=user, obj=patient, action="patient.viewed", details={"tab": "authorizations"}
    )
    context = {"patient": patient, "authorization": authorization, "form": form}
    return render(request, "patients/referrals/authorization_form.html", context, status=status)


@guard
@require_POST
def authorization_units(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    authorization = _authorization(user, public_id)
    patient = authorization.patient
    if not can_work_referrals(user, patient):
        raise Http404
    form = UnitsForm(request.POST)
    response = form_submit(
        request,
        form,
        lambda data: services.authorization_units_use(
            actor=user, authorization=authorization, units=data["units"]
        ),
        success="Units recorded.",
        redirect_to=reverse("patients:authorizations", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _authorizations_page(
        request, patient, units_form=form, units_for=authorization.pk, status=400
    )


@guard
@require_GET
def authorizations_expiring(request: HttpRequest) -> HttpResponse:
    """Active authorizations of the user's patients that expire within 30 days, soonest first."""
    user = actor(request)
    today = timezone.localdate()
    rows = list(
        _visible(user, Authorization.objects.all())
        .filter(status="ACTIVE", valid_to__gte=today, valid_to__lte=today + timedelta(days=30))
        .select_related("patient", "payer")
        .order_by("valid_to", "pk")[:500]
    )
    for row in rows:
        row.days_left = (row.valid_to - today).days
    return render(request, "patients/referrals/expiring.html", {"rows": rows, "today": today})

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

from django import forms
from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access
from clinic.decorators import staff_required
from clinic.errors import ApplicationError, NotFound
from clinic.models import Role, User
from clinic.tenancy import scope_queryset
from clinic.web import form_apply_error

from . import referrals_services as services
from .documents_selectors import documents_visible_to
from .models import Authorization, Document, Patient, Payer, Physician, Referral, ReferralStatus
from .selectors import patient_get_visible, patients_visible_to

guard = staff_required(check=services.can_use_referrals)

QUEUE_PAGE_SIZE = 50


def _actor(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _patient(user: User, public_id: uuid.UUID) -> Patient:
    patient = patient_get_visible(user, public_id)
    if not services.can_see_referrals(user, patient):
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


def _assignees(patient: Patient) -> QuerySet[User]:
    """Who a referral of ``patient`` can be given to: EMPLOYEEs of the home location and the
    organization's ADMINs."""
    return (
        User.objects.filter(is_active=True, organization_id=patient.organization_id)
        .filter(
            Q(memberships__location_id=patient.home_location_id, memberships__role=Role.EMPLOYEE)
            | Q(memberships__role=Role.ADMIN)
        )
        .distinct()
        .order_by("full_name", "pk")
    )


# -- forms -------------------------------------------------------------------------------------


class PublicIdChoiceField(forms.ModelChoiceField):
    def __init__(self, queryset: QuerySet[Any], **kwargs: Any) -> None:
        kwargs.setdefault("to_field_name", "public_id")
        super().__init__(queryset=queryset, **kwargs)


class ReferralForm(forms.Form):
    physician = PublicIdChoiceField(
        Physician.objects.none(),
        label="Referring physician",
        empty_label="Choose a physician",
        error_messages={
            "required": "Choose a physician.",
            "invalid_choice": "Choose a physician from the list.",
        },
    )
    received_on = forms.DateField(
        label="Received on",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={
            "required": "Enter the date the referral arrived.",
            "invalid": "Enter a date like 2026-03-01.",
        },
    )
    reason = forms.CharField(
        label="Reason for referral",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        error_messages={"required": "Give the reason for the referral."},
    )

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["physician"].queryset = Physician.objects.filter(  # type: ignore[attr-defined]
            organization_id=patient.organization_id
        ).order_by("last_name", "first_name", "pk")
        if not self.is_bound:
            self.initial.setdefault("received_on", timezone.localdate())
            if patient.referring_physician is not None:
                self.initial.setdefault("physician", patient.referring_physician.public_id)


class DocumentChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        label = obj.get_category_display()
        if obj.description:
            label += f": {obj.description}"
        return f"{label} ({obj.created_at:%Y-%m-%d})"


class DocumentsForm(forms.Form):
    documents = DocumentChoiceField(
        Document.objects.none(),
        to_field_name="public_id",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Linked documents",
        error_messages={"invalid_choice": "Choose documents of this patient."},
    )

    def __init__(self, *args: Any, user: User, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["documents"].queryset = (  # type: ignore[attr-defined]
            documents_visible_to(user).filter(patient=patient).order_by("-created_at", "-id")
        )


class AdvanceForm(forms.Form):
    to = forms.ChoiceField(choices=ReferralStatus.choices)
    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AssignForm(forms.Form):
    assignee = PublicIdChoiceField(
        User.objects.none(), label="Assigned to", required=False, empty_label="Nobody"
    )

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _assignees(patient)  # type: ignore[attr-defined]


class AuthorizationForm(forms.Form):
    payer = PublicIdChoiceField(
        Payer.objects.none(),
        empty_label="Choose a payer",
        error_messages={
            "required": "Choose a payer.",
            "invalid_choice": "Choose a payer from the list.",
        },
    )
    number = forms.CharField(
        label="Authorization number",
        max_length=60,
        error_messages={"required": "Enter the authorization number."},
    )
    codes = forms.CharField(
        label="Codes",
        max_length=300,
        help_text="HCPCS or CPT codes separated by commas, e.g. E0601, A7030",
        error_messages={"required": "Enter at least one code."},
    )
    units_approved = forms.IntegerField(
        label="Units approved",
        min_value=0,
        max_value=1_000_000,
        error_messages={"required": "Enter the approved units."},
    )
    valid_from = forms.DateField(
        label="Valid from",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date like 2026-03-01."},
    )
    valid_to = forms.DateField(
        label="Valid to",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a date like 2026-03-01."},
    )

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["payer"].queryset = Payer.objects.filter(  # type: ignore[attr-defined]
            organization_id=patient.organization_id
        )

    def data_object(self) -> services.AuthorizationData:
        c = self.cleaned_data
        return services.AuthorizationData(
            payer=c["payer"],
            number=c["number"],
            codes=c["codes"],
            units_approved=c["units_approved"],
            valid_from=c["valid_from"],
            valid_to=c["valid_to"],
        )


class UnitsForm(forms.Form):
    units = forms.IntegerField(
        label="Units to use",
        min_value=1,
        max_value=100_000,
        error_messages={"required": "Enter how many units.", "min_value": "Use at least one unit."},
    )


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
    user = _actor(request)
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
        "today": timezone.localdate(),
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
    user = _actor(request)
    patient = referral.patient
    linked = list(
        referral.documents.filter(entered_in_error=False).select_related("current_version")
    )
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": "referral"})
    can_work = services.can_work_referrals(user, patient)
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
    referral = _referral(_actor(request), public_id)
    return _referral_page(request, referral)


@guard
@require_POST
def referral_status(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    referral = _referral(user, public_id)
    if not services.can_work_referrals(user, referral.patient):
        raise Http404
    form = AdvanceForm(request.POST)
    if form.is_valid():
        try:
            services.referral_advance(
                actor=user,
                referral=referral,
                to=form.cleaned_data["to"],
                note=form.cleaned_data["note"],
            )
        except ApplicationError as exc:
            form_apply_error(form, exc)
        else:
            messages.success(
                request, f"Referral marked {ReferralStatus(form.cleaned_data['to']).label.lower()}."
            )
            return redirect("patients:referral_detail", public_id=referral.public_id)
    return _referral_page(request, referral, advance_form=form, status=400)


@guard
@require_POST
def referral_assign(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    referral = _referral(user, public_id)
    if not services.can_work_referrals(user, referral.patient):
        raise Http404
    form = AssignForm(request.POST, patient=referral.patient)
    if form.is_valid():
        try:
            services.referral_assign(
                actor=user, referral=referral, assignee=form.cleaned_data["assignee"]
            )
        except ApplicationError as exc:
            form_apply_error(form, exc)
        else:
            messages.success(request, "Assignment saved.")
            return redirect("patients:referral_detail", public_id=referral.public_id)
    return _referral_page(request, referral, assign_form=form, status=400)


@guard
@require_POST
def referral_documents(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    referral = _referral(user, public_id)
    if not services.can_work_referrals(user, referral.patient):
        raise Http404
    form = DocumentsForm(request.POST, user=user, patient=referral.patient)
    if form.is_valid():
        try:
            services.referral_documents_set(
                actor=user, referral=referral, documents=list(form.cleaned_data["documents"])
            )
        except ApplicationError as exc:
            form_apply_error(form, exc)
        else:
            messages.success(request, "Linked documents saved.")
            return redirect("patients:referral_detail", public_id=referral.public_id)
    return _referral_page(request, referral, documents_form=form, status=400)


@guard
@require_http_methods(["GET", "POST"])
def patient_referrals(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """A patient's referrals and the form to record a new one."""
    user = _actor(request)
    patient = _patient(user, public_id)
    can_work = services.can_work_referrals(user, patient)
    form = ReferralForm(patient=patient)
    status = 200
    if request.method == "POST":
        if not can_work:
            raise Http404
        form = ReferralForm(request.POST, patient=patient)
        if form.is_valid():
            try:
                referral = services.referral_receive(
                    actor=user,
                    patient=patient,
                    physician=form.cleaned_data["physician"],
                    received_on=form.cleaned_data["received_on"],
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                form_apply_error(form, exc)
            else:
                messages.success(request, "Referral recorded.")
                return redirect("patients:referral_detail", public_id=referral.public_id)
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
    user = _actor(request)
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
        "can_work": services.can_work_referrals(user, patient),
        "today": timezone.localdate(),
    }
    return render(request, "patients/referrals/authorizations.html", context, status=status)


@guard
@require_http_methods(["GET", "POST"])
def patient_authorizations(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _patient(user, public_id)
    if request.method != "POST":
        return _authorizations_page(request, patient)
    if not services.can_work_referrals(user, patient):
        raise Http404
    form = AuthorizationForm(request.POST, patient=patient)
    if form.is_valid():
        try:
            services.authorization_add(actor=user, patient=patient, data=form.data_object())
        except ApplicationError as exc:
            form_apply_error(form, exc)
        else:
            messages.success(request, "Authorization added.")
            return redirect("patients:authorizations", public_id=patient.public_id)
    return _authorizations_page(request, patient, form=form, status=400)


@guard
@require_http_methods(["GET", "POST"])
def authorization_edit(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    authorization = _authorization(user, public_id)
    patient = authorization.patient
    if not services.can_work_referrals(user, patient):
        raise Http404
    status = 200
    if request.method == "POST":
        form = AuthorizationForm(request.POST, patient=patient)
        if form.is_valid():
            try:
                services.authorization_update(
                    actor=user, authorization=authorization, data=form.data_object()
                )
            except ApplicationError as exc:
                form_apply_error(form, exc)
            else:
                messages.success(request, "Authorization saved.")
                return redirect("patients:authorizations", public_id=patient.public_id)
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
    user = _actor(request)
    authorization = _authorization(user, public_id)
    patient = authorization.patient
    if not services.can_work_referrals(user, patient):
        raise Http404
    form = UnitsForm(request.POST)
    if form.is_valid():
        try:
            services.authorization_units_use(
                actor=user, authorization=authorization, units=form.cleaned_data["units"]
            )
        except ApplicationError as exc:
            form_apply_error(form, exc)
        else:
            messages.success(request, "Units recorded.")
            return redirect("patients:authorizations", public_id=patient.public_id)
    return _authorizations_page(
        request, patient, units_form=form, units_for=authorization.pk, status=400
    )


@guard
@require_GET
def authorizations_expiring(request: HttpRequest) -> HttpResponse:
    """Active authorizations of the user's patients that expire within 30 days, soonest first."""
    user = _actor(request)
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

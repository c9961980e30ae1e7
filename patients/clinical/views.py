"""Portal pages of a patient's insurance and medical history, and their actions.

A patient the user may not open is a 404 (``patient_get_visible``). A patient they may open
whose section is not theirs (a field technician's limited record) is a 404 too, leaving only an
audit row of the refusal. Every rendering of a page is audited; every write is one service call
followed by a redirect.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access, audit_record
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.models import User
from clinic.tenancy import scope_queryset
from clinic.web import actor, form_apply_error, form_submit
from patients.clinical import services
from patients.clinical.forms import (
    DiagnosisForm,
    MedicalHistoryForm,
    PayerForm,
    PolicyForm,
    StudyForm,
    VerifyForm,
)
from patients.clinical.permissions import (
    can_edit_insurance,
    can_edit_medical_history,
    can_view_insurance,
    can_view_medical_history,
)
from patients.documents import services as documents_services
from patients.documents.forms import ACCEPT as CARD_ACCEPT
from patients.documents.forms import InsuranceCardForm
from patients.documents.selectors import insurance_cards_of
from patients.models import (
    Diagnosis,
    DiagnosticStudy,
    InsurancePolicy,
    MedicalHistory,
    Patient,
    Payer,
)
from patients.record.permissions import access_level, can_use_patients
from patients.record.selectors import patient_get_visible

clinical_page = staff_required(check=can_use_patients)

INSURANCE = "insurance"
MEDICAL_HISTORY = "medical_history"


def _patient_for(
    request: HttpRequest, public_id: uuid.UUID, section: str, *, edit: bool = False
) -> Patient:
    """The patient, if ``section`` of their record is the user's to see (and, with ``edit``,
    to change); otherwise 404 with an audit row of the refusal."""
    user = actor(request)
    patient = patient_get_visible(user, public_id)
    level = access_level(user, patient)
    if section == INSURANCE:
        allowed = (can_edit_insurance if edit else can_view_insurance)(user, patient, level=level)
    else:
        allowed = (can_edit_medical_history if edit else can_view_medical_history)(
            user, patient, level=level
        )
    if not allowed:
        audit_record(
            actor=user,
            action="patient.access_refused",
            obj=patient,
            details={"section": section, "edit": edit},
        )
        raise Http404
    return patient


def _payers(user: User) -> Any:
    return scope_queryset(Payer.objects.all(), user).order_by("name", "id")


# -- insurance -------------------------------------------------------------------------------


def _insurance_page(
    request: HttpRequest,
    patient: Patient,
    *,
    policy_form: PolicyForm | None = None,
    payer_form: PayerForm | None = None,
    verify_errors: dict[int, str] | None = None,
    card_errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = actor(request)
    audit_access(actor=user, obj=patient, action="patient.insurance_viewed")
    can_edit = can_edit_insurance(user, patient)
    policies = list(
        InsurancePolicy.objects.filter(patient=patient).select_related("payer", "verified_by")
    )
    cards = insurance_cards_of(user, policies)
    for policy in policies:
        sides = cards.get(policy.pk, {})
        policy.has_card = bool(sides)  # type: ignore[attr-defined]
        policy.card_sides = [("Front", sides.get("front")), ("Back", sides.get("back"))]  # type: ignore[attr-defined]
    context: dict[str, Any] = {
        "patient": patient,
        "section": INSURANCE,
        "policies": policies,
        "can_edit": can_edit,
        "verify_errors": verify_errors or {},
        "card_errors": card_errors or {},
        "card_accept": CARD_ACCEPT,
        "tz": patient.home_location.timezone,
    }
    if can_edit:
        context["policy_form"] = policy_form or PolicyForm(payers=_payers(user))
        context["payer_form"] = payer_form or PayerForm()
    return render(request, "patients/clinical/insurance.html", context, status=status)


@clinical_page
@require_GET
def insurance(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = _patient_for(request, public_id, INSURANCE)
    return _insurance_page(request, patient)


@clinical_page
@require_POST
def insurance_add(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, INSURANCE, edit=True)
    form = PolicyForm(request.POST, payers=_payers(user))
    response = form_submit(
        request,
        form,
        lambda data: services.insurance_policy_add(
            actor=user, patient=patient, **{k: data[k] for k in services.POLICY_FIELDS}
        ),
        success="Policy added.",
        redirect_to=reverse("patients:insurance", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _insurance_page(request, patient, policy_form=form, status=400)


@clinical_page
@require_POST
def payer_add(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, INSURANCE, edit=True)
    form = PayerForm(request.POST)
    response = form_submit(
        request,
        form,
        lambda data: services.payer_add(actor=user, **data),
        success=lambda payer: f"{payer.name} can now be chosen as a payer.",
        redirect_to=reverse("patients:insurance", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _insurance_page(request, patient, payer_form=form, status=400)


def _policy_of(patient: Patient, policy_id: uuid.UUID) -> InsurancePolicy:
    try:
        return InsurancePolicy.objects.select_related("payer").get(
            patient=patient, public_id=policy_id
        )
    except InsurancePolicy.DoesNotExist as exc:
        raise Http404 from exc


@clinical_page
@require_http_methods(["GET", "POST"])
def insurance_edit(
    request: HttpRequest, public_id: uuid.UUID, policy_id: uuid.UUID
) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, INSURANCE, edit=True)
    policy = _policy_of(patient, policy_id)
    if not policy.is_active:
        raise Http404
    # The member id is never sent back to the browser: blank keeps the one on file.
    initial = {k: getattr(policy, k) for k in services.POLICY_FIELDS if k != "member_id"}
    form = PolicyForm(request.POST or None, initial=initial, payers=_payers(user))
    form.fields["member_id"].help_text = (
        f"On file: {policy.member_id_masked}. Leave blank to keep it."
        if policy.member_id
        else "None on file."
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {k: data[k] for k in services.POLICY_FIELDS}
        if not fields["member_id"]:
            del fields["member_id"]
        try:
            services.insurance_policy_update(actor=user, policy=policy, **fields)
        except ApplicationError as exc:
            form_apply_error(form, exc)
        else:
            messages.success(request, "Policy saved.")
            return redirect("patients:insurance", public_id=patient.public_id)
    audit_access(actor=user, obj=patient, action="patient.insurance_viewed")
    return render(
        request,
        "patients/clinical/policy_form.html",
        {
            "patient": patient,
            "section": INSURANCE,
            "policy": policy,
            "form": form,
            "card_accept": CARD_ACCEPT,
        },
        status=400 if form.errors else 200,
    )


@clinical_page
@require_POST
def insurance_verify(
    request: HttpRequest, public_id: uuid.UUID, policy_id: uuid.UUID
) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, INSURANCE, edit=True)
    policy = _policy_of(patient, policy_id)
    form = VerifyForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            services.insurance_policy_verify(
                actor=user, policy=policy, status=form.cleaned_data["status"]
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, "Verification recorded.")
            return redirect("patients:insurance", public_id=patient.public_id)
    else:
        error = "Choose verified or failed."
    return _insurance_page(request, patient, verify_errors={policy.pk: error}, status=400)


@clinical_page
@require_POST
def insurance_cards(
    request: HttpRequest, public_id: uuid.UUID, policy_id: uuid.UUID
) -> HttpResponse:
    """Photos of the front and/or back of a policy's card, kept as the patient's documents."""
    user = actor(request)
    patient = _patient_for(request, public_id, INSURANCE, edit=True)
    policy = _policy_of(patient, policy_id)
    form = InsuranceCardForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            documents_services.insurance_cards_upload(
                actor=user,
                policy=policy,
                files={side: form.cleaned_data[side] for side in ("front", "back")},
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, "Card saved.")
            return redirect("patients:insurance", public_id=patient.public_id)
    else:
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    return _insurance_page(request, patient, card_errors={policy.pk: error}, status=400)


@clinical_page
@require_POST
def insurance_deactivate(
    request: HttpRequest, public_id: uuid.UUID, policy_id: uuid.UUID
) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, INSURANCE, edit=True)
    policy = _policy_of(patient, policy_id)
    services.insurance_policy_deactivate(actor=user, policy=policy)
    messages.success(request, "Policy deactivated.")
    return redirect("patients:insurance", public_id=patient.public_id)


# -- medical history -------------------------------------------------------------------------


def _history_page(
    request: HttpRequest,
    patient: Patient,
    *,
    diagnosis_form: DiagnosisForm | None = None,
    study_form: StudyForm | None = None,
    notes_form: MedicalHistoryForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = actor(request)
    audit_access(actor=user, obj=patient, action="patient.medical_history_viewed")
    can_edit = can_edit_medical_history(user, patient)
    record = MedicalHistory.objects.filter(patient=patient).first()
    context: dict[str, Any] = {
        "patient": patient,
        "section": MEDICAL_HISTORY,
        "diagnoses": list(
            Diagnosis.objects.filter(patient=patient).select_related(
                "recorded_by", "entered_in_error_by"
            )
        ),
        "studies": list(
            DiagnosticStudy.objects.filter(patient=patient).select_related("recorded_by")
        ),
        "record": record,
        "can_edit": can_edit,
        "tz": patient.home_location.timezone,
    }
    if can_edit:
        context["diagnosis_form"] = diagnosis_form or DiagnosisForm()
        context["study_form"] = study_form or StudyForm()
        context["notes_form"] = notes_form or MedicalHistoryForm(
            initial={
                "allergies": record.allergies if record else "",
                "medications": record.medications if record else "",
            }
        )
    return render(request, "patients/clinical/medical_history.html", context, status=status)


@clinical_page
@require_GET
def medical_history(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = _patient_for(request, public_id, MEDICAL_HISTORY)
    return _history_page(request, patient)


@clinical_page
@require_POST
def diagnosis_add(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, MEDICAL_HISTORY, edit=True)
    form = DiagnosisForm(request.POST)
    response = form_submit(
        request,
        form,
        lambda data: services.diagnosis_add(actor=user, patient=patient, **data),
        success="Diagnosis added.",
        redirect_to=reverse("patients:medical_history", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _history_page(request, patient, diagnosis_form=form, status=400)


@clinical_page
@require_POST
def diagnosis_error(
    request: HttpRequest, public_id: uuid.UUID, diagnosis_id: uuid.UUID
) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, MEDICAL_HISTORY, edit=True)
    try:
        diagnosis = Diagnosis.objects.get(patient=patient, public_id=diagnosis_id)
    except Diagnosis.DoesNotExist as exc:
        raise Http404 from exc
    services.diagnosis_mark_entered_in_error(actor=user, diagnosis=diagnosis)
    messages.success(request, "Diagnosis marked as entered in error.")
    return redirect("patients:medical_history", public_id=patient.public_id)


@clinical_page
@require_POST
def study_add(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, MEDICAL_HISTORY, edit=True)
    form = StudyForm(request.POST)
    response = form_submit(
        request,
        form,
        lambda data: services.study_add(actor=user, patient=patient, **data),
        success="Study added.",
        redirect_to=reverse("patients:medical_history", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _history_page(request, patient, study_form=form, status=400)


@clinical_page
@require_POST
def medical_history_notes(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = _patient_for(request, public_id, MEDICAL_HISTORY, edit=True)
    form = MedicalHistoryForm(request.POST)
    response = form_submit(
        request,
        form,
        lambda data: services.medical_history_update(actor=user, patient=patient, **data),
        success="Allergies and medications saved.",
        redirect_to=reverse("patients:medical_history", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _history_page(request, patient, notes_form=form, status=400)

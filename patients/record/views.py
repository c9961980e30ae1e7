"""Portal pages of the patient record: the list, the patient dashboard, create and edit, and
the status-change and note actions.

Every page starts from ``patients_visible_to(user)`` (a patient the user may not open is a 404,
exactly like one that does not exist), decides what the user sees with
``patients.record.permissions``, audits each view of a patient, and calls one service per write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.selectors import history_for
from clinic.audit.services import audit_access, audit_record
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.phones import phone_normalize
from clinic.tenancy import get_scoped
from clinic.web import actor, form_apply_error, form_submit
from patients.models import Patient, PatientNote, PatientStatusChange, Physician
from patients.record import services
from patients.record.forms import (
    FILTERS,
    NoteForm,
    PatientForm,
    PhysicianForm,
    StatusChangeForm,
    location_label,
    patient_filter_form,
    physician_label,
    technician_label,
)
from patients.record.permissions import (
    FULL,
    access_level,
    can_add_note,
    can_change_status,
    can_edit_patient,
    can_manage_physicians,
    can_register_patient,
    can_see_section,
    can_use_patients,
    full_access_location_ids,
)
from patients.record.selectors import (
    SearchOutcome,
    filter_locations_for,
    locations_matching,
    patient_duplicates,
    patient_get_visible,
    patients_filtered,
    patients_visible_to,
    physicians_for,
    physicians_matching,
    technicians_matching,
)

PAGE_SIZE = 25
TABS = ("details", "history")

patients_page = staff_required(check=can_use_patients)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


# -- list ------------------------------------------------------------------------------------


@patients_page
def patient_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form, data = patient_filter_form(user, request.GET)
    visible = patients_visible_to(user)
    outcome = SearchOutcome()
    qs = patients_filtered(visible, data, user=user, outcome=outcome)
    sort = data.get("sort") or "name"

    # Keyset paging: the cursor is the public id of the last row shown (no names in the URL,
    # no OFFSET, no COUNT), so every page costs the same on millions of rows.
    after = _uuid(request.GET.get("after"))
    anchor = (
        visible.filter(public_id=after).values("last_name", "first_name", "id").first()
        if after
        else None
    )
    if anchor and sort == "created":
        qs = qs.filter(id__lt=anchor["id"])
    elif anchor:
        qs = qs.filter(
            RawSQL(
                '("patients_patient"."last_name", "patients_patient"."first_name", '
                '"patients_patient"."id") > (%s, %s, %s)',
                (anchor["last_name"], anchor["first_name"], anchor["id"]),
                output_field=BooleanField(),
            )
        )
    rows = list(qs.select_related("home_location")[: PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    full_locations = full_access_location_ids(user)
    for row in rows:
        row.full_access = user.is_org_admin or row.home_location_id in full_locations  # type: ignore[attr-defined]

    query = request.GET.copy()
    query.pop("after", None)
    view_mode = "grid" if request.GET.get("view") == "grid" else "list"
    query_without_view = query.copy()
    query_without_view.pop("view", None)
    context = {
        "form": form,
        "rows": rows,
        "has_next": has_next,
        "next_after": rows[-1].public_id if has_next else None,
        "is_first_page": anchor is None,
        "query": query.urlencode(),
        "query_without_view": query_without_view.urlencode(),
        "view_mode": view_mode,
        "can_register": can_register_patient(user),
        "can_manage_physicians": can_manage_physicians(user),
        "filtered": any(data.get(k) for k in FILTERS),
        "capped_at": outcome.capped_at() if rows else None,
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "patient-results":
        return render(request, "patients/_results.html", context)
    return render(request, "patients/list.html", context)


# -- dashboard -------------------------------------------------------------------------------


@patients_page
def patient_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = patient_get_visible(user, public_id)
    level = access_level(user, patient)
    tab = request.GET.get("tab", "details")
    if tab not in TABS:
        raise Http404
    if tab == "history" and not can_see_section(level, "history"):
        # The patient is theirs to see, this part of the record is not: say no, and keep a
        # trace of the attempt (ids and the section's name only).
        audit_record(
            actor=user,
            action="patient.access_refused",
            obj=patient,
            details={"section": "history"},
        )
        raise Http404
    return _detail_page(request, patient, level=level, tab=tab)


def _detail_page(
    request: HttpRequest,
    patient: Patient,
    *,
    level: str | None,
    tab: str,
    status_form: StatusChangeForm | None = None,
    note_form: NoteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the dashboard (also after a refused action, with its form's errors): every
    rendering shows patient data, so every rendering is audited."""
    user = actor(request)
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": tab})
    context: dict[str, Any] = {
        "patient": patient,
        "tab": tab,
        "full": level == FULL,
        "show": {s: can_see_section(level, s) for s in ("demographics", "clinical", "history")},
        "can_edit": level == FULL,
        "tz": patient.home_location.timezone,
    }
    if tab == "details" and level == FULL:
        allowed = services.allowed_transitions(patient.status)
        if can_change_status(user, patient):
            context["status_form"] = status_form or StatusChangeForm(allowed=allowed)
        if can_add_note(user, patient):
            context["note_form"] = note_form or NoteForm()
        context["status_changes"] = list(
            PatientStatusChange.objects.filter(patient=patient).select_related("actor")[:10]
        )
        context["notes"] = list(
            PatientNote.objects.filter(patient=patient).select_related("author")[:20]
        )
    if tab == "history":
        context["history"] = history_for(patient, exclude=["search_name"])
    return render(request, "patients/detail.html", context, status=status)


# -- create / edit ---------------------------------------------------------------------------

_FORM_FIELDS = services.EDITABLE_FIELDS


@patients_page
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    if not can_register_patient(user):
        raise Http404
    locations = filter_locations_for(user)
    form = PatientForm(request.POST or None, locations=locations, physicians=physicians_for(user))
    duplicates: list[Patient] = []
    hidden_duplicates = 0
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            phones = [phone_normalize(data[f], field=f) for f in ("phone_mobile", "phone_home")]
            found = list(
                patient_duplicates(
                    organization_id=user.organization_id,  # type: ignore[arg-type]
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    date_of_birth=data["date_of_birth"],
                    phones=phones,
                )[:20]
            )
            visible_ids = set(
                patients_visible_to(user)
                .filter(pk__in=[p.pk for p in found])
                .values_list("pk", flat=True)
            )
            duplicates = [p for p in found if p.pk in visible_ids]
            hidden_duplicates = len(found) - len(duplicates)
            if found and request.POST.get("confirm_duplicate") != "yes":
                form.add_error(
                    None,
                    "This patient may already be on file. Open the existing record, or confirm "
                    "that this is a different person.",
                )
            else:
                patient = services.patient_register(
                    actor=user, **{k: data[k] for k in _FORM_FIELDS}
                )
                messages.success(request, f"{patient.display_name} is registered.")
                return redirect("patients:detail", public_id=patient.public_id)
        except ApplicationError as exc:
            form_apply_error(form, exc)
    return render(
        request,
        "patients/form.html",
        {
            "form": form,
            "duplicates": duplicates,
            "hidden_duplicates": hidden_duplicates,
            "creating": True,
            "has_locations": locations.exists(),
        },
        status=400 if form.errors else 200,
    )


@patients_page
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = patient_get_visible(user, public_id)
    if not can_edit_patient(user, patient):
        raise Http404
    initial = {name: getattr(patient, name) for name in _FORM_FIELDS}
    form = PatientForm(
        request.POST or None,
        initial=initial,
        locations=filter_locations_for(user),
        physicians=physicians_for(user),
    )
    if request.method == "POST":
        response = form_submit(
            request,
            form,
            lambda data: services.patient_update(
                actor=user, patient=patient, **{k: data[k] for k in _FORM_FIELDS}
            ),
            success="Changes saved.",
            redirect_to=reverse("patients:detail", kwargs={"public_id": patient.public_id}),
        )
        if response is not None:
            return response
    return render(
        request,
        "patients/form.html",
        {"form": form, "patient": patient, "creating": False, "has_locations": True},
        status=400 if form.errors else 200,
    )


# -- actions ---------------------------------------------------------------------------------


@patients_page
@require_POST
def patient_status(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = patient_get_visible(user, public_id)
    if not can_change_status(user, patient):
        raise Http404
    form = StatusChangeForm(request.POST, allowed=services.allowed_transitions(patient.status))
    response = form_submit(
        request,
        form,
        lambda data: services.patient_status_change(
            actor=user, patient=patient, to=data["to"], reason=data["reason"]
        ),
        success="Status changed.",
        redirect_to=reverse("patients:detail", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _detail_page(request, patient, level=FULL, tab="details", status_form=form, status=400)


@patients_page
@require_POST
def patient_note(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = patient_get_visible(user, public_id)
    if not can_add_note(user, patient):
        raise Http404
    form = NoteForm(request.POST)
    response = form_submit(
        request,
        form,
        lambda data: services.patient_note_add(actor=user, patient=patient, text=data["text"]),
        success="Note added.",
        redirect_to=reverse("patients:detail", kwargs={"public_id": patient.public_id}),
    )
    if response is not None:
        return response
    return _detail_page(request, patient, level=FULL, tab="details", note_form=form, status=400)


# -- referring physicians --------------------------------------------------------------------

PICKER_RESULTS = 10
PICKER_QUERY_MAX = 100


def _lookup(
    request: HttpRequest,
    matching: Callable[[str], QuerySet[Any]],
    item: Callable[[Any], dict[str, str]],
) -> JsonResponse:
    """A picker's suggestions (``static/src/picker.js``): at most ``PICKER_RESULTS`` rows that
    ``matching`` finds for the typed text, each with ``id``, ``label`` (what goes in the box),
    ``name`` and ``detail``, and whether there are more."""
    text = " ".join((request.GET.get("q") or "").split())
    if len(text) > PICKER_QUERY_MAX:
        return JsonResponse(
            {
                "error": {
                    "code": "invalid",
                    "message": f"Type at most {PICKER_QUERY_MAX} characters.",
                }
            },
            status=400,
        )
    found = list(matching(text)[: PICKER_RESULTS + 1])
    return JsonResponse(
        {
            "results": [item(row) for row in found[:PICKER_RESULTS]],
            "more": len(found) > PICKER_RESULTS,
        }
    )


@patients_page
@require_GET
def physician_lookup(request: HttpRequest) -> JsonResponse:
    """Suggestions for the physician picker (list filter, create and edit)."""
    return _lookup(
        request,
        lambda text: physicians_matching(actor(request), text),
        lambda p: {
            "id": str(p.public_id),
            "label": physician_label(p),
            "name": str(p),
            "detail": f"NPI {p.npi}",
            "npi": p.npi,
        },
    )


@patients_page
@require_GET
def location_lookup(request: HttpRequest) -> JsonResponse:
    """Suggestions for the list's location filter when the organization has many."""
    return _lookup(
        request,
        lambda text: locations_matching(actor(request), text),
        lambda loc: {
            "id": str(loc.public_id),
            "label": location_label(loc),
            "name": loc.name,
            "detail": loc.get_kind_display(),
        },
    )


@patients_page
@require_GET
def technician_lookup(request: HttpRequest) -> JsonResponse:
    """Suggestions for the list's technician filter (office users only, as the filter is)."""
    user = actor(request)
    if not can_register_patient(user):
        raise Http404
    return _lookup(
        request,
        lambda text: technicians_matching(user, text),
        lambda tech: {
            "id": str(tech.public_id),
            "label": technician_label(tech),
            "name": tech.full_name or tech.email,
            "detail": tech.email if tech.full_name else "",
        },
    )


PHYSICIANS_SHOWN = 50
physicians_page = staff_required(check=can_manage_physicians)


@physicians_page
def physician_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    q = (request.GET.get("q") or "").strip()[:100]
    qs = physicians_for(user)
    if q:
        qs = qs.filter(
            Q(npi=q)
            | Q(last_name__icontains=q)
            | Q(first_name__icontains=q)
            | Q(practice__icontains=q)
        )
    rows = list(qs.order_by("last_name", "first_name", "id")[: PHYSICIANS_SHOWN + 1])
    return render(
        request,
        "patients/physicians.html",
        {"rows": rows[:PHYSICIANS_SHOWN], "more": len(rows) > PHYSICIANS_SHOWN, "q": q},
    )


@physicians_page
@require_http_methods(["GET", "POST"])
def physician_create(request: HttpRequest) -> HttpResponse:
    form = PhysicianForm(request.POST or None)
    if request.method == "POST":
        response = form_submit(
            request,
            form,
            lambda data: services.physician_create(actor=actor(request), **data),
            success=lambda physician: f"{physician} is on file.",
            redirect_to="patients:physicians",
        )
        if response is not None:
            return response
    return render(
        request,
        "patients/physician_form.html",
        {"form": form, "creating": True},
        status=400 if form.errors else 200,
    )


@physicians_page
@require_http_methods(["GET", "POST"])
def physician_edit(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    physician = get_scoped(Physician, user, public_id=public_id)
    initial = {f: getattr(physician, f) for f in PhysicianForm.base_fields}
    form = PhysicianForm(request.POST or None, initial=initial)
    if request.method == "POST":
        response = form_submit(
            request,
            form,
            lambda data: services.physician_update(actor=user, physician=physician, **data),
            success="Changes saved.",
            redirect_to="patients:physicians",
        )
        if response is not None:
            return response
    return render(
        request,
        "patients/physician_form.html",
        {"form": form, "physician": physician, "creating": False},
        status=400 if form.errors else 200,
    )

"""Portal pages of comms: a patient's communications tab (conversation, send, timeline), the
staff inbox (unread and unassigned), templates and gateway settings.

Every page starts from scoped selectors: a patient or conversation the user may not see is a 404.
Views of patient data are audited; writes are services (audited there).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access, audit_record
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.models import User
from clinic.web import actor, form_submit
from comms.messaging import conversations as conversation_services
from comms.messaging import services
from comms.messaging.forms import CommsSettingsForm, SmsSendForm, TemplateForm
from comms.messaging.inbox import inbox_counts
from comms.messaging.permissions import (
    can_manage_comms,
    can_message_patient,
    can_see_clinical_timeline,
    can_use_comms,
    can_use_unassigned,
)
from comms.messaging.preferences import preference_for
from comms.messaging.rendering import DEFAULT_TEMPLATES, placeholders, template_preview
from comms.messaging.selectors import (
    conversation_get_visible,
    conversations_visible_to,
    message_get_visible,
    thread_messages,
)
from comms.messaging.timeline import KIND_LABELS, timeline_for
from comms.models import Channel, CommsSettings, Conversation, Message, MessageTemplate
from patients.models import Patient
from patients.record.selectors import patient_get_visible, patients_visible_to

comms_guard = staff_required(check=can_use_comms)
admin_guard = staff_required(check=can_manage_comms)
INBOX_SIZE = 50


def _patient(user: User, public_id: uuid.UUID) -> Patient:
    patient = patient_get_visible(user, public_id)
    if not can_message_patient(user, patient):
        raise Http404
    return patient


def _template_choices(patient: Patient) -> list[tuple[str, str]]:
    rows = MessageTemplate.objects.filter(
        organization_id=patient.organization_id, channel=Channel.SMS, is_active=True
    ).values_list("key", "name")
    choices = dict(rows)
    for key in DEFAULT_TEMPLATES:
        choices.setdefault(key, key.replace("_", " ").capitalize())
    return sorted(choices.items(), key=lambda kv: kv[1])


def _kinds(request: HttpRequest) -> list[str]:
    return [k for k in request.GET.getlist("kind") if k in KIND_LABELS][: len(KIND_LABELS)]


def _panel_context(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    user = actor(request)
    conversation = Conversation.objects.filter(
        organization_id=patient.organization_id, patient=patient
    ).first()
    number = services.patient_sms_number(patient)
    preference = (
        preference_for(organization=patient.organization, channel=Channel.SMS, address=number)
        if number
        else None
    )
    kinds = _kinds(request)
    return {
        "patient": patient,
        "conversation": conversation,
        "thread": thread_messages(conversation) if conversation else [],
        "number": number,
        "preference": preference,
        "timeline": timeline_for(user=user, patient=patient, kinds=kinds or None),
        "kinds": kinds,
        "kind_labels": KIND_LABELS,
        "clinical": can_see_clinical_timeline(user, patient),
        "tz": patient.home_location.timezone,
    }


@comms_guard
@require_GET
def patient_comms(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The communications tab: conversation, send form and the patient's timeline."""
    return _page(request, _patient(actor(request), public_id))


def _page(
    request: HttpRequest, patient: Patient, *, form: SmsSendForm | None = None, status: int = 200
) -> HttpResponse:
    user = actor(request)
    audit_access(
        actor=user, obj=patient, action="patient.viewed", details={"tab": "communications"}
    )
    context = _panel_context(request, patient)
    context.update(
        {
            "full": can_see_clinical_timeline(user, patient),
            "form": form or SmsSendForm(templates=_template_choices(patient)),
        }
    )
    return render(request, "comms/patient.html", context, status=status)


@comms_guard
@require_GET
def patient_comms_panel(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The live parts of the tab (conversation and timeline), re-read after a stream change."""
    user = actor(request)
    patient = _patient(user, public_id)
    audit_access(
        actor=user, obj=patient, action="patient.viewed", details={"tab": "communications"}
    )
    return render(request, "comms/_panel.html", _panel_context(request, patient))


@comms_guard
@require_POST
def patient_sms_send(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    patient = _patient(user, public_id)
    form = SmsSendForm(request.POST, templates=_template_choices(patient))
    sent = form_submit(
        request,
        form,
        lambda data: services.message_send(
            actor=user,
            patient=patient,
            channel=Channel.SMS,
            purpose="manual",
            dedupe_key=f"manual:{data['nonce']}",
            template=data["template"] or None,
            body=None if data["template"] else data["body"],
        ),
        success="Message queued.",
        redirect_to=reverse("comms:patient", kwargs={"public_id": patient.public_id}),
    )
    return sent or _page(request, patient, form=form, status=400)


def _back(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    if conversation.patient is not None:
        return redirect("comms:patient", public_id=conversation.patient.public_id)
    return redirect(reverse("comms:inbox") + "?box=unassigned")


@comms_guard
@require_POST
def conversation_read(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    conversation = conversation_get_visible(actor(request), public_id)
    conversation_services.conversation_mark_read(actor=actor(request), conversation=conversation)
    return _back(request, conversation)


@comms_guard
@require_POST
def conversation_archive(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    conversation = conversation_get_visible(actor(request), public_id)
    archived = request.POST.get("archived", "1") != "0"
    conversation_services.conversation_archive(
        actor=actor(request), conversation=conversation, archived=archived
    )
    messages.success(request, "Conversation archived." if archived else "Conversation restored.")
    return redirect("comms:inbox")


@comms_guard
@require_POST
def message_assign(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    message = message_get_visible(user, public_id)
    try:
        patient = patient_get_visible(user, uuid.UUID(request.POST.get("patient", "")))
    except ValueError as exc:
        raise Http404 from exc
    try:
        conversation_services.message_assign(actor=user, message=message, patient=patient)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("comms:inbox") + "?box=unassigned")
    messages.success(request, "Message filed under the patient.")
    return redirect("comms:patient", public_id=patient.public_id)


BOXES = {
    "unread": "Unread",
    "all": "All conversations",
    "unassigned": "Unassigned",
    "archived": "Archived",
}


@comms_guard
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Conversations with unread messages across the patients the user may see."""
    user = actor(request)
    box = request.GET.get("box", "unread")
    if box not in BOXES or (box == "unassigned" and not can_use_unassigned(user)):
        box = "unread"
    qs = conversations_visible_to(user).select_related("patient", "location")
    if box == "archived":
        qs = qs.filter(archived_at__isnull=False)
    else:
        qs = qs.filter(archived_at__isnull=True)
    if box == "unread":
        qs = qs.filter(unread_count__gt=0, patient__isnull=False)
    elif box == "unassigned":
        qs = qs.filter(patient__isnull=True)
    rows = list(qs.order_by("-last_message_at", "-id")[:INBOX_SIZE])
    unassigned_messages: dict[int, list[Message]] = {}
    candidates: dict[int, Patient] = {}
    if box == "unassigned" and rows:
        for m in Message.objects.filter(
            conversation__in=[c.pk for c in rows], patient__isnull=True, direction="inbound"
        ).order_by("-created_at")[: INBOX_SIZE * 3]:
            unassigned_messages.setdefault(m.conversation_id or 0, []).append(m)
        ids = {
            pid
            for ms in unassigned_messages.values()
            for m in ms
            for pid in m.candidate_patient_ids
        }
        candidates = {p.pk: p for p in patients_visible_to(user).filter(pk__in=ids)}
    for conversation in rows:
        messages_of = unassigned_messages.get(conversation.pk, [])
        conversation.pending = [  # type: ignore[attr-defined]
            (m, [candidates[i] for i in m.candidate_patient_ids if i in candidates])
            for m in messages_of
        ]
    shown = [str(c.patient.public_id) for c in rows if c.patient is not None]
    if shown:
        # One row for the whole page (constant queries): which patients' threads were listed.
        audit_record(
            actor=user,
            action="inbox.viewed",
            object_type="comms.inbox",
            details={"patients": shown},
        )
    return render(
        request,
        "comms/inbox.html",
        {
            "rows": rows,
            "box": box,
            "boxes": {
                k: v for k, v in BOXES.items() if k != "unassigned" or can_use_unassigned(user)
            },
            "counts": inbox_counts(user),
        },
    )


@comms_guard
@require_GET
def inbox_counts_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(inbox_counts(actor(request)))


# ---------------------------------------------------------------- administration


@admin_guard
@require_http_methods(["GET", "POST"])
def templates_page(request: HttpRequest) -> HttpResponse:
    """The organization's templates; "Preview" renders with sample values before saving."""
    user = actor(request)
    form = TemplateForm(request.POST or None)
    preview = ""
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if request.POST.get("action") == "preview":
                preview = template_preview(data["body"])
            else:
                services.template_save(
                    actor=user, key=data["key"], name=data["name"], body=data["body"]
                )
                messages.success(request, "Template saved.")
                return redirect("comms:templates")
        except ApplicationError as exc:
            form.add_error("body", exc.message)
            status = 400
    elif request.method == "POST":
        status = 400
    templates = MessageTemplate.objects.filter(organization_id=user.organization_id or 0).order_by(
        "name"
    )
    return render(
        request,
        "comms/templates.html",
        {"form": form, "preview": preview, "templates": templates, "placeholders": placeholders()},
        status=status,
    )


@admin_guard
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    row = CommsSettings.objects.filter(organization_id=user.organization_id or 0).first()
    initial = {}
    if row is not None:
        initial = {
            f: getattr(row, f)
            for f in (
                "sms_gateway",
                "twilio_credentials_from_environment",
                "twilio_account_sid",
                "twilio_from_number",
                "twilio_messaging_service_sid",
                "help_reply",
            )
        }
    form = CommsSettingsForm(request.POST or None, initial=initial, instance=row)
    if request.method == "POST":
        saved = form_submit(
            request,
            form,
            lambda data: services.comms_settings_save(actor=user, values=data),
            success="Communications settings saved.",
            redirect_to=reverse("comms:settings"),
        )
        return saved or render(
            request, "comms/settings.html", {"form": form, "row": row}, status=400
        )
    return render(request, "comms/settings.html", {"form": form, "row": row})

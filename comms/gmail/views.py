"""Portal pages of Gmail: mailboxes (ADMIN: connect with OAuth, disconnect, sync), an email
and its thread (read / star, reply, attachments to documents, link to a patient), compose from
a patient's record, search across email and SMS, and the Pub/Sub push endpoint.

Every page starts from the scoped selectors: what the user may not see is a 404. Views of
patient data are audited here; writes are audited by the services.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from functools import partial
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access, audit_record
from clinic.decorators import staff_required
from clinic.errors import ApplicationError
from clinic.models import User
from clinic.tenancy import get_scoped
from clinic.web import actor, form_submit
from comms.gmail import services
from comms.gmail.client import oauth_authorization_start, oauth_configured
from comms.gmail.forms import (
    ComposeForm,
    ConnectForm,
    FlagsForm,
    InboxFilterForm,
    LinkForm,
    SearchForm,
)
from comms.gmail.models import GmailAttachment, GmailMailbox
from comms.gmail.permissions import can_email_patient, can_manage_gmail, can_use_email
from comms.gmail.push import PushRefused, push_verify
from comms.gmail.selectors import (
    attachment_get_visible,
    email_get_visible,
    email_inbox,
    mailboxes_of_organization,
    mailboxes_usable_by,
    messages_search,
    thread_messages,
)
from comms.gmail.tasks import mailbox_sync_enqueue
from comms.messaging.gateways import public_url
from comms.messaging.rendering import patient_context, template_render
from comms.models import Message, MessageTemplate
from patients.documents.selectors import documents_visible_to
from patients.record.selectors import patient_get_visible, patient_search, patients_visible_to

logger = logging.getLogger(__name__)

admin_guard = staff_required(check=can_manage_gmail)
email_guard = staff_required(check=can_use_email)

OAUTH_SESSION_KEY = "gmail_oauth"
OAUTH_MAX_AGE = 600  # seconds between "Connect" and Google's redirect back


def _organization_timezone(user: User) -> str:
    return user.organization.timezone if user.organization is not None else "UTC"


# -------------------------------------------------------------------------- mailboxes (ADMIN)


@admin_guard
@require_GET
def gmail_settings(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    context = {
        "tab": "gmail",
        "mailboxes": list(mailboxes_of_organization(user)),
        "form": ConnectForm(),
        "configured": oauth_configured(),
    }
    return render(request, "comms/gmail/settings.html", context)


def _redirect_uri(request: HttpRequest) -> str:

    path = reverse("comms:gmail_oauth_callback")
    return public_url(path) or request.build_absolute_uri(path)


@admin_guard
@require_POST
def gmail_connect(request: HttpRequest) -> HttpResponse:
    """Send the ADMIN to Google's consent screen (state and PKCE verifier kept in the session)."""
    form = ConnectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose which mailbox to connect.")
        return redirect("comms:gmail_settings")
    redirect_uri = _redirect_uri(request)
    try:
        start = oauth_authorization_start(redirect_uri=redirect_uri)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("comms:gmail_settings")
    request.session[OAUTH_SESSION_KEY] = {
        "state": start.state,
        "verifier": start.code_verifier,
        "kind": form.cleaned_data["kind"],
        "redirect_uri": redirect_uri,
        "at": int(time.time()),
    }
    audit_record(
        actor=actor(request),
        action="gmail_mailbox.connect_started",
        details={"kind": form.cleaned_data["kind"]},
    )
    return HttpResponseRedirect(start.url)


@admin_guard
@require_GET
def gmail_oauth_callback(request: HttpRequest) -> HttpResponse:
    """Google's redirect back: check the state, exchange the code, keep the tokens."""
    pending = request.session.pop(OAUTH_SESSION_KEY, None)
    state = request.GET.get("state", "")
    if (
        not isinstance(pending, dict)
        or not state
        or not hmac.compare_digest(str(pending.get("state", "")), state)
        or int(time.time()) - int(pending.get("at", 0)) > OAUTH_MAX_AGE
    ):
        messages.error(
            request, "That sign-in with Google was not started here or took too long. Try again."
        )
        return redirect("comms:gmail_settings")
    if request.GET.get("error") or not request.GET.get("code"):
        messages.error(request, "Google did not grant access, so no mailbox was connected.")
        return redirect("comms:gmail_settings")
    try:
        mailbox = services.mailbox_connect(
            actor=actor(request),
            kind=str(pending.get("kind")),
            redirect_uri=str(pending.get("redirect_uri")),
            state=state,
            code_verifier=str(pending.get("verifier")),
            code=request.GET["code"][:2000],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("comms:gmail_settings")
    messages.success(request, f"{mailbox.email_address} is connected. The first sync has started.")
    return redirect("comms:gmail_settings")


@admin_guard
@require_POST
def gmail_disconnect(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    mailbox = get_scoped(GmailMailbox, user, public_id=public_id)
    revoked = services.mailbox_disconnect(actor=user, mailbox=mailbox)
    if revoked:
        messages.success(
            request, f"{mailbox.email_address} is disconnected; Google revoked access."
        )
    else:
        messages.warning(
            request,
            f"{mailbox.email_address} is disconnected and its tokens are deleted, but Google "
            "could not be reached to revoke access: remove Tandem at "
            "myaccount.google.com/permissions.",
        )
    return redirect("comms:gmail_settings")


@admin_guard
@require_POST
def gmail_sync_now(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    mailbox = get_scoped(GmailMailbox, user, public_id=public_id)
    try:
        services.mailbox_sync_request(actor=user, mailbox=mailbox)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Sync started. New mail appears in a moment.")
    return redirect("comms:gmail_settings")


# -------------------------------------------------------------------------- one email


def _email_page(
    request: HttpRequest, message: Message, *, link_form: LinkForm | None = None, status: int = 200
) -> HttpResponse:
    user = actor(request)
    patient = message.patient if message.patient_id is not None else None
    if patient is not None:
        audit_access(
            actor=user,
            obj=patient,
            action="patient.viewed",
            details={"tab": "email", "message": str(message.public_id)},
        )
    else:
        audit_access(actor=user, obj=message, action="message.viewed")
    thread = thread_messages(user, message)
    candidates: list[Any] = []
    patient_q = ""
    if message.patient_id is None:
        visible = patients_visible_to(user).select_related("home_location")
        patient_q = (request.GET.get("patient_q") or "").strip()[:100]
        if patient_q:
            candidates = list(patient_search(visible, patient_q).order_by("last_name", "id")[:10])
        elif message.candidate_patient_ids:
            ids = [i for i in message.candidate_patient_ids if _is_uuid(i)]
            candidates = list(visible.filter(public_id__in=ids).order_by("last_name", "id"))
    row = getattr(message, "gmail", None)
    context = {
        "message": message,
        "patient": patient,
        "row": row,
        "thread": thread,
        "candidates": candidates,
        "patient_q": patient_q,
        "reply_target": _reply_target(thread),
        "link_form": link_form or LinkForm(),
        "can_reply": bool(
            patient is not None
            and row is not None
            and row.mailbox.is_connected
            and _reply_target(thread) is not None
            and can_email_patient(user, patient)
        ),
        "tz": patient.home_location.timezone if patient is not None else "UTC",
    }
    return render(request, "comms/gmail/email.html", context, status=status)


def _reply_target(thread: list[Message]) -> Message | None:
    """The newest email of the thread Gmail knows (replies thread onto it)."""
    for m in reversed(thread):
        row = getattr(m, "gmail", None)
        if row is not None and row.gmail_id:
            return m
    return None


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@email_guard
@require_GET
def email_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    message = email_get_visible(actor(request), public_id)
    return _email_page(request, message)


@email_guard
@require_POST
def email_flags(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Read / unread, star / unstar: changed in Gmail, then here."""
    user = actor(request)
    message = email_get_visible(user, public_id)
    form = FlagsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing to change.")
        return redirect("comms:email_detail", public_id=message.public_id)
    try:
        services.email_flags_set(
            actor=user,
            message=message,
            read=form.cleaned_data["read"],
            starred=form.cleaned_data["starred"],
        )
    except ApplicationError as exc:
        messages.error(request, f"{exc.message} Nothing was changed.")
    return redirect("comms:email_detail", public_id=message.public_id)


@email_guard
@require_POST
def email_attachment_save(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    attachment: GmailAttachment = attachment_get_visible(user, public_id)
    message = attachment.gmail_message.message
    try:
        services.email_attachment_save(actor=user, attachment=attachment)
    except ApplicationError as exc:
        messages.error(request, f"The attachment was not saved. {exc.message}")
    else:
        messages.success(request, "Saved to the patient's documents (Correspondence).")
    return redirect("comms:email_detail", public_id=message.public_id)


@email_guard
@require_POST
def email_link(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = actor(request)
    message = email_get_visible(user, public_id)
    form = LinkForm(request.POST)
    if form.is_valid():
        try:
            patient = patient_get_visible(user, form.cleaned_data["patient"])
            services.email_patient_link(actor=user, message=message, patient=patient)
        except ApplicationError as exc:
            form.add_error("patient", exc.message)
        else:
            messages.success(request, "Linked to the patient.")
            return redirect("comms:email_detail", public_id=message.public_id)
    return _email_page(request, message, link_form=form, status=400)


# -------------------------------------------------------------------------- compose


def _compose_patient(user: User, public_id: uuid.UUID) -> Any:
    patient = patient_get_visible(user, public_id)
    if not can_email_patient(user, patient):
        raise Http404
    return patient


def _initial(user: User, patient: Any, request: HttpRequest, reply_to: Message | None) -> dict:

    initial: dict[str, Any] = {"token": uuid.uuid4()}
    if reply_to is not None:
        subject = reply_to.subject or ""
        initial["subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        initial["mailbox"] = reply_to.gmail.mailbox.public_id
    template_id = request.GET.get("template", "")
    if _is_uuid(template_id):
        template = MessageTemplate.objects.filter(
            organization=user.organization,
            channel="email",
            is_active=True,
            public_id=template_id,
        ).first()
        if template is not None:
            try:
                values = patient_context(patient)
                initial["body"] = template_render(template.body, values)
                if template.subject and reply_to is None:
                    initial["subject"] = template_render(template.subject, values)
            except ApplicationError:
                pass  # a template needing values we do not have: start from an empty message
    return initial


@email_guard
@require_http_methods(["GET", "POST"])
def email_compose(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Write an email to a patient (or reply, with ``?reply=<email id>``)."""
    user = actor(request)
    patient = _compose_patient(user, public_id)
    reply_to: Message | None = None
    reply_id = request.GET.get("reply") or request.POST.get("reply") or ""
    if reply_id:
        if not _is_uuid(reply_id):
            raise Http404
        reply_to = email_get_visible(user, reply_id)
        if reply_to.patient_id != patient.pk:
            raise Http404
    mailboxes = mailboxes_usable_by(user)
    documents = (
        documents_visible_to(user)
        .filter(patient=patient, current_version__isnull=False)
        .select_related("current_version")
        .order_by("-created_at", "-id")
    )
    templates = list(
        MessageTemplate.objects.filter(
            organization=user.organization, channel="email", is_active=True
        ).order_by("name")
    )
    status = 200
    if request.method == "POST":
        form = ComposeForm(request.POST, mailboxes=mailboxes, documents=documents)
        sent = form_submit(
            request,
            form,
            lambda data: services.email_compose_send(
                actor=user,
                patient=patient,
                mailbox=data["mailbox"],
                draft=services.Draft(
                    subject=data["subject"],
                    body=data["body"],
                    documents=list(data["documents"]),
                ),
                dedupe_key=f"email-compose:{data['token']}",
                reply_to=reply_to,
            ),
            success="Email queued; it is sent in a moment.",
            redirect_to=lambda message: reverse(
                "comms:email_detail", kwargs={"public_id": message.public_id}
            ),
        )
        if sent is not None:
            return sent
        status = 400
    else:
        form = ComposeForm(
            initial=_initial(user, patient, request, reply_to),
            mailboxes=mailboxes,
            documents=documents,
        )
    audit_access(actor=user, obj=patient, action="patient.viewed", details={"tab": "email_compose"})
    context = {
        "patient": patient,
        "form": form,
        "reply_to": reply_to,
        "templates": templates,
        "mailboxes": mailboxes,
        "tab": "communications",
    }
    return render(request, "comms/gmail/compose.html", context, status=status)


# -------------------------------------------------------------------------- email list


@email_guard
@require_GET
def email_list(request: HttpRequest) -> HttpResponse:
    """The email a user may see, newest first: all, unread, or not linked to a patient."""
    user = actor(request)
    form = InboxFilterForm(request.GET or None)
    show = form.cleaned_data["show"] if form.is_bound and form.is_valid() else ""
    rows, counts = email_inbox(user, show)
    audit_record(
        actor=user, action="email.listed", details={"show": show or "all", "rows": len(rows)}
    )
    context = {
        "rows": rows,
        "counts": counts,
        "show": show,
        "search_form": SearchForm(),
        "tz": _organization_timezone(user),
    }
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "comms/gmail/list.html", context, status=status)


# -------------------------------------------------------------------------- search


@email_guard
@require_GET
def message_search(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = SearchForm(request.GET or None)
    results: list[Message] = []
    searched = False
    if form.is_bound and form.is_valid() and form.cleaned_data["q"].strip():
        searched = True
        text, channel = form.cleaned_data["q"].strip(), form.cleaned_data["channel"]
        results = list(messages_search(user, text, channel=channel))
        audit_record(
            actor=user,
            action="messages.searched",
            details={"results": len(results), "channel": form.cleaned_data["channel"] or "all"},
        )
    context = {
        "form": form,
        "results": results,
        "searched": searched,
        "tz": _organization_timezone(user),
    }
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "comms/gmail/search.html", context, status=status)


# -------------------------------------------------------------------------- Pub/Sub push


@csrf_exempt
@require_POST
def gmail_push(request: HttpRequest) -> HttpResponse:
    """Gmail's change notifications through a Cloud Pub/Sub push subscription. The request must
    carry Google's OIDC token for our audience and service account; the body only names the
    mailbox, which is then synced (in Celery, like the schedule)."""

    try:
        address = push_verify(
            authorization=request.headers.get("Authorization", ""), body=request.body
        )
    except PushRefused as exc:
        audit_record(
            actor=None, action="webhook.refused", details={"source": "gmail", "code": exc.code}
        )
        status = 404 if exc.code == "push_not_configured" else 403
        return HttpResponse(status=status)
    ids = list(
        GmailMailbox.objects.filter(
            email_address=address, status=GmailMailbox.Status.CONNECTED
        ).values_list("pk", flat=True)
    )
    for mailbox_id in ids:
        transaction.on_commit(partial(mailbox_sync_enqueue, mailbox_id=mailbox_id))
    # Pub/Sub retries anything but a 2xx: an unknown mailbox is acknowledged too.
    return HttpResponse(status=204)

"""Pages of guided sessions: the staff list/start page and console, and the patient tablet's
pairing page, page shell, photo and signature uploads (device token only).

Staff views are guarded like every portal page (password + OTP, scoped, audited). Device views
accept only the ``guided_device`` cookie (``device_auth.device_required``): no staff session is
looked at, and the token opens nothing else.
"""

from __future__ import annotations

import io
import secrets
import uuid
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.core.files.storage import storages
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic.audit.services import audit_access
from clinic.client_ip import client_ip
from clinic.decorators import staff_required
from clinic.errors import ApplicationError, NotFound
from clinic.files.services import Kind
from clinic.models import Location, User
from clinic.tenancy import get_scoped, visible_locations
from patients.models import Patient
from patients.record.selectors import patient_get_visible

from . import services
from .device_auth import DEVICE_COOKIE, DEVICE_COOKIE_PATH, device_required
from .models import GuidedSession, GuidedUpload, SessionStatus
from .permissions import can_use_guided, guided_location_ids
from .socket_auth import device_socket_path

guard = staff_required(check=can_use_guided)
PAIR_DEVICE_COOKIE = "guided_pair"
PAIR_LOCATION_COOKIE = "guided_pair_location"
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _session(request: HttpRequest, public_id: uuid.UUID) -> GuidedSession:
    return services.session_for_staff(_user(request), public_id)


def _start_locations(user: User) -> list[Location]:
    locations = visible_locations(user).order_by("name")
    if not user.is_org_admin:
        locations = locations.filter(pk__in=guided_location_ids(user))
    return list(locations)


# ---------------------------------------------------------------- staff


@guard
@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    """Active sessions at my locations, and the start form for a new patient."""
    user = _user(request)
    locations = _start_locations(user)
    sessions = (
        GuidedSession.objects.filter(
            organization_id=user.organization_id or 0,
            status=SessionStatus.ACTIVE,
            location__in=locations,
        )
        .select_related("location", "patient", "started_by")
        .order_by("-created_at")[:100]
    )
    return render(
        request,
        "guided/list.html",
        {"sessions": sessions, "locations": locations},
    )


@guard
@require_POST
def session_start(request: HttpRequest) -> HttpResponseBase:
    user = _user(request)
    patient: Patient | None = None
    try:
        patient_id = request.POST.get("patient") or ""
        if patient_id:
            patient = patient_get_visible(user, uuid.UUID(patient_id))
        location_id = request.POST.get("location") or ""
        if location_id:
            location = get_scoped(Location, user, public_id=uuid.UUID(location_id))
        elif patient is not None:
            location = patient.home_location
        else:
            messages.error(request, "Choose the location of the session.")
            return redirect("guided:list")
        session = services.guided_session_start(actor=user, location=location, patient=patient)
    except (ValueError, NotFound) as exc:
        raise Http404 from exc
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("guided:list")
    return redirect("guided:console", public_id=session.public_id)


@guard
@require_GET
def console(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _user(request)
    session = _session(request, public_id)
    audit_access(actor=user, obj=session, action="guided_session.viewed")
    code = services.pairing_code_current(session) if session.is_active else None
    pair_url = request.build_absolute_uri(reverse("guided:pair"))
    bootstrap = {
        "session": str(session.public_id),
        "socket_url": f"/ws/guided/{session.public_id}/",
        "complete_url": reverse("guided:complete", kwargs={"public_id": session.public_id}),
        "end_url": reverse("guided:end", kwargs={"public_id": session.public_id}),
        "code_url": reverse("guided:code", kwargs={"public_id": session.public_id}),
        "patient_url": _patient_url(session),
    }
    return render(
        request,
        "guided/console.html",
        {
            "session": session,
            "code": code[0] if code else None,
            "code_expires_at": code[1] if code else None,
            "pair_url": pair_url,
            "bootstrap": bootstrap,
        },
    )


def _patient_url(session: GuidedSession) -> str:
    patient = session.completed_patient or session.patient
    return reverse("patients:detail", kwargs={"public_id": patient.public_id}) if patient else ""


@guard
@require_POST
def code_new(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    session = _session(request, public_id)
    try:
        services.pairing_code_issue(actor=_user(request), session=session)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("guided:console", public_id=session.public_id)


@guard
@require_GET
def qr_code(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    session = _session(request, public_id)
    code = services.pairing_code_current(session) if session.is_active else None
    if code is None:
        raise Http404
    base = request.build_absolute_uri(reverse("guided:pair"))
    url = f"{base}?location={session.location.public_id}#code={code[0]}"
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    response = HttpResponse(out.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


@guard
@require_POST
def session_complete(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    session = _session(request, public_id)
    reply = services.complete_from_page(actor=_user(request), session_id=session.pk)
    if reply["type"] == "ERROR":
        fields = "; ".join(reply.get("fields", {}).values())
        messages.error(request, f"{reply['message']} {fields}".strip())
    else:
        messages.success(request, "The session is complete and the record is updated.")
    return redirect("guided:console", public_id=session.public_id)


@guard
@require_POST
def session_end(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    session = _session(request, public_id)
    reply = services.end_from_page(actor=_user(request), session_id=session.pk)
    if reply["type"] == "ERROR":
        messages.error(request, reply["message"])
    else:
        messages.success(request, "The session has ended; nothing was written to the record.")
    return redirect("guided:console", public_id=session.public_id)


@guard
@require_GET
def staff_upload(
    request: HttpRequest, public_id: uuid.UUID, upload_id: uuid.UUID
) -> HttpResponseBase:
    user = _user(request)
    session = _session(request, public_id)
    upload = GuidedUpload.objects.filter(session=session, public_id=upload_id).first()
    if upload is None:
        raise Http404
    audit_access(actor=user, obj=upload, action="guided_upload.viewed")
    return _file(upload)


def _file(upload: GuidedUpload) -> FileResponse:
    response = FileResponse(
        storages["default"].open(upload.storage_name, "rb"),
        content_type=Kind(upload.kind).content_type,
    )
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response


# ---------------------------------------------------------------- patient tablet


@require_http_methods(["GET", "POST"])
def pair(request: HttpRequest) -> HttpResponse:
    """No login: a tablet enters (or scans) the code shown on the staff screen."""
    location = _pair_location(request)
    context: dict[str, Any] = {"ended": request.GET.get("ended") == "1", "error": None}
    status = 200
    device_key = request.COOKIES.get(PAIR_DEVICE_COOKIE) or secrets.token_urlsafe(16)
    if request.method == "POST":
        try:
            _session_row, raw = services.device_pair(
                code=str(request.POST.get("code", ""))[:20],
                device_key=device_key[:64],
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
                location=location,
            )
        except ApplicationError as exc:
            context["error"] = exc.message
            status = exc.status
        else:
            response = redirect("guided:device")
            response.set_cookie(
                DEVICE_COOKIE,
                raw,
                max_age=int(services.MAX_AGE.total_seconds()),
                path=DEVICE_COOKIE_PATH,
                secure=not settings.DEBUG and request.is_secure(),
                httponly=True,
                samesite="Strict",
            )
            return response
    page = render(request, "guided/pair.html", context, status=status)
    page.set_cookie(
        PAIR_DEVICE_COOKIE,
        device_key,
        max_age=30 * 86400,
        httponly=True,
        samesite="Strict",
        path=reverse("guided:pair"),
    )
    if location is not None:
        page.set_cookie(
            PAIR_LOCATION_COOKIE,
            str(location.public_id),
            max_age=365 * 86400,
            httponly=True,
            samesite="Strict",
            path=reverse("guided:pair"),
        )
    if context["ended"]:
        page["Clear-Site-Data"] = '"cache", "storage"'
    return page


def _pair_location(request: HttpRequest) -> Location | None:
    raw = request.GET.get("location") or request.COOKIES.get(PAIR_LOCATION_COOKIE) or ""
    try:
        value = uuid.UUID(raw)
    except ValueError:
        return None
    return Location.objects.filter(public_id=value, is_active=True).first()


@require_GET
@device_required
def device_page(request: HttpRequest) -> HttpResponse:
    device = request.guided_device  # type: ignore[attr-defined]
    context = {
        "device_urls": {
            "socket_url": device_socket_path(device.session.public_id),
            "upload_url": reverse("guided:device_upload_add"),
            "signature_url": reverse("guided:device_signature"),
            "pair_url": reverse("guided:pair") + "?ended=1",
            "preview_url": reverse("guided:device_upload", kwargs={"upload_id": ZERO_UUID}),
        },
        "session_id": str(device.session.public_id),
    }
    response = render(request, "guided/device.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_POST
@device_required
def device_upload_add(request: HttpRequest) -> JsonResponse:
    device = request.guided_device  # type: ignore[attr-defined]
    slot = str(request.POST.get("slot", ""))[:30]
    file = request.FILES.get("file")
    if file is None:
        return _json_error("Choose or take a photo first.")
    try:
        upload = services.upload_add(device=device, slot=slot, file=file)
    except ApplicationError as exc:
        return _json_error(exc.message)
    return JsonResponse({"upload": str(upload.public_id), "slot": upload.slot, "kind": upload.kind})


@require_POST
@device_required
def device_signature(request: HttpRequest) -> JsonResponse:
    device = request.guided_device  # type: ignore[attr-defined]
    image = request.FILES.get("image")
    if image is None:
        return _json_error("Sign in the box first.")
    try:
        signature = services.signature_add(
            device=device,
            document=str(request.POST.get("document", ""))[:40],
            image=image,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except ApplicationError as exc:
        return _json_error(exc.message)
    return JsonResponse({"signature": str(signature.public_id), "document": signature.consent.key})


@require_GET
@device_required
def device_upload(request: HttpRequest, upload_id: uuid.UUID) -> HttpResponseBase:
    device = request.guided_device  # type: ignore[attr-defined]
    upload = GuidedUpload.objects.filter(session_id=device.session_id, public_id=upload_id).first()
    if upload is None:
        raise Http404
    return _file(upload)

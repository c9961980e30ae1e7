"""The one way a stored file leaves the system: a signed, short-lived, audited download link."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Model
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinic.audit.services import audit_access, audit_record
from clinic.decorators import staff_required
from clinic.files import registry
from clinic.files import services as files

# A file rendered inline could run script in our origin (an HTML file posing as a PDF, an
# SVG); served with these it is only ever saved, never interpreted, and not kept in caches.
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Referrer-Policy": "no-referrer",
}


def _expired(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "error.html",
        {
            "title": "This download link has expired",
            "message": "Download links work for a few minutes only. Go back to the page you "
            "came from and choose the file again.",
        },
        status=410,
    )


@require_GET
@staff_required
def file_download(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        grant = files.download_grant_read(token)
    except files.LinkInvalid as exc:
        raise Http404 from exc
    except files.LinkExpired as exc:
        # Only the person it was made for learns it expired; for anyone else it does not exist.
        if exc.grant.user_id != request.user.pk:
            raise Http404 from exc
        return _expired(request)
    if grant.user_id != request.user.pk:
        raise Http404
    access = registry.file_access_for(grant.object_type)
    if access is None:
        raise Http404
    # The owning app decides again now: access may have changed since the link was made.
    found = access.check(request.user, grant.public_id)
    if not found:
        raise Http404

    storage = files.storages["default"]
    details = {"kind": files.Kind(_kind_of(grant.content_type)).value}
    if files.storage_presigns(storage):
        url = files.presigned_download_url(grant=grant, storage=storage)
        _audit(request, access, grant, found, details | {"via": "presigned"})
        response: HttpResponseBase = HttpResponseRedirect(url)
    else:
        try:
            handle = storage.open(grant.storage_name, "rb")
        except FileNotFoundError as exc:
            raise Http404 from exc
        _audit(request, access, grant, found, details | {"via": "stream"})
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=grant.filename,
            content_type=grant.content_type,
        )
    for header, value in _DOWNLOAD_HEADERS.items():
        response[header] = value
    return response


def _kind_of(content_type: str) -> str:
    for kind in files.Kind:
        if kind.content_type == content_type:
            return kind.value
    raise Http404


@transaction.atomic
def _audit(
    request: HttpRequest,
    access: registry.FileAccess,
    grant: files.DownloadGrant,
    found: object,
    details: dict[str, str],
) -> None:
    user = request.user
    if isinstance(found, Model) and getattr(found, "public_id", None):
        audit_access(actor=user, obj=found, action=access.action, details=details)  # type: ignore[arg-type]
    else:
        audit_record(
            actor=user,  # type: ignore[arg-type]
            action=access.action,
            object_type=grant.object_type,
            object_id=grant.public_id,
            details=details,
        )

"""Sign-in, second factor, session lifetime and session revocation."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse

from clinic.middleware import SESSION_AUTH_AT, SESSION_LAST_SEEN
from clinic.services.audit import audit_record

# Requests that report on the session without counting as activity.
_PASSIVE_PATHS = ("/session/status",)


def session_expire_if_due(request: HttpRequest) -> HttpResponse | None:
    """Sign out a session that has been idle too long or has outlived its absolute lifetime.

    Returns the response to send instead of the view, or None to carry on. Any other request
    of a signed-in user counts as activity.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    now = int(time.time())
    auth_at = request.session.get(SESSION_AUTH_AT)
    last_seen = request.session.get(SESSION_LAST_SEEN)
    reason = None
    if auth_at is None or last_seen is None:
        reason = "unknown_session"
    elif now - int(auth_at) > settings.SESSION_ABSOLUTE_SECONDS:
        reason = "absolute_lifetime"
    elif now - int(last_seen) > settings.IDLE_TIMEOUT_SECONDS:
        reason = "idle"
    if reason is None:
        if request.path not in _PASSIVE_PATHS:
            request.session[SESSION_LAST_SEEN] = now
        return None
    audit_record(actor=user, action="auth.session_expired", details={"reason": reason})
    logout(request)
    login_url = reverse("clinic:login") + "?expired=1"
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = login_url
        return response
    if request.path.startswith("/api/") or request.accepts("application/json") and not request.accepts("text/html"):
        return JsonResponse(
            {"error": {"code": "session_expired", "message": "Your session has ended. Please sign in again."}},
            status=401,
        )
    return HttpResponseRedirect(login_url)

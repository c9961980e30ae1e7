"""The Django admin, for organization ADMINs only, behind password + OTP."""

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


def _admin_has_permission(request: HttpRequest) -> bool:
    user = request.user
    verified = getattr(user, "is_verified", lambda: False)()  # set by django-otp's middleware
    return bool(user.is_active and user.is_authenticated and verified and user.is_staff)


# The admin uses our sign-in (password + TOTP), never its own form.
admin.site.has_permission = _admin_has_permission  # type: ignore[method-assign]
admin.site.site_header = "Tandem administration"
admin.site.site_title = "Tandem admin"
admin.site.index_title = "Organization data"


def admin_login_redirect(request: HttpRequest) -> HttpResponseRedirect:
    next_url = request.GET.get("next", "/admin/")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/admin/"
    return HttpResponseRedirect(f"{reverse('clinic:login')}?next={next_url}")


def admin_view_on_site_disabled(request: HttpRequest, rest: str) -> HttpResponse:
    raise Http404

from django.contrib import admin
from django.urls import include, path

from clinic.admin_site import admin_login_redirect, admin_view_on_site_disabled
from clinic.auth import views as auth_views
from clinic.portal.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/login/", admin_login_redirect),
    path("admin/logout/", auth_views.logout_view),  # one audited sign-out for portal and admin
    # The admin's "view on site" shortcut would look up any content type by id, including
    # unmanaged history views; none of our models has a public page, so it is switched off.
    path("admin/r/<path:rest>", admin_view_on_site_disabled),
    path("admin/", admin.site.urls),
    path("api/", include("config.api_urls")),
    path("patients/", include("patients.urls")),
    path("schedule/", include("scheduling.urls")),
    path("comms/", include("comms.urls")),
    path("equipment/", include("equipment.urls")),
    path("billing/", include("billing.urls")),
    path("guided/", include("patients.guided.urls")),
    path("", include("clinic.urls")),
]

handler400 = "clinic.portal.errors.bad_request"
handler403 = "clinic.portal.errors.permission_denied"
handler404 = "clinic.portal.errors.page_not_found"
handler500 = "clinic.portal.errors.server_error"

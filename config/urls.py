from django.contrib import admin
from django.urls import include, path

from clinic.admin_site import admin_login_redirect
from clinic.views.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/login/", admin_login_redirect),
    path("admin/", admin.site.urls),
    path("api/", include("config.api_urls")),
    path("", include("clinic.urls")),
]

handler400 = "clinic.views.errors.bad_request"
handler403 = "clinic.views.errors.permission_denied"
handler404 = "clinic.views.errors.page_not_found"
handler500 = "clinic.views.errors.server_error"

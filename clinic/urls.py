"""Portal URLs of the clinic core. One module per sub-domain, all under the ``clinic`` namespace."""

from django.urls import include, path

app_name = "clinic"

urlpatterns = [
    path("", include("clinic.auth.urls")),
    path("", include("clinic.portal.urls")),
    path("", include("clinic.organization.urls")),
    path("", include("clinic.notifications.urls")),
    path("", include("clinic.audit.urls")),
    path("", include("clinic.files.urls")),
]

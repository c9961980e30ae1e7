"""Portal URLs of the clinic core. One module per area, all under the ``clinic`` namespace."""

from django.urls import include, path

app_name = "clinic"

urlpatterns = [
    path("", include("clinic.urls.auth")),
    path("", include("clinic.urls.portal")),
    path("", include("clinic.urls.notifications")),
    path("", include("clinic.urls.audit")),
    path("", include("clinic.urls.files")),
]

"""Portal URLs of the patients app (namespace ``patients``): one include per sub-domain, in the
order the routes are matched."""

from django.urls import include, path

app_name = "patients"

urlpatterns = [
    path("", include("patients.record.urls")),
    path("", include("patients.documents.urls")),
    path("", include("patients.clinical.urls")),
    path("", include("patients.referrals.urls")),
    path("", include("patients.bulk.urls")),
]

"""Portal URLs of billing: fee schedules and the charges ledger."""

from django.urls import include, path

app_name = "billing"

urlpatterns = [
    path("", include("billing.fees.urls")),
    path("", include("billing.charges.urls")),
]

"""The JSON API: one view per operation, each app adds its own module."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("clinic.api_urls")),
]

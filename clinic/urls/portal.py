from django.urls import path

from clinic.views import portal

urlpatterns = [
    path("", portal.dashboard, name="dashboard"),
]

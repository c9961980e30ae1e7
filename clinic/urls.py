from django.urls import path

from clinic.views import portal

app_name = "clinic"

urlpatterns = [
    path("", portal.dashboard, name="dashboard"),
]

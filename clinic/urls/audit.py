from django.urls import path

from clinic.views import audit

urlpatterns = [
    path("activity", audit.activity, name="activity"),
]

from django.urls import path

from clinic.audit import views as audit

urlpatterns = [
    path("activity", audit.activity, name="activity"),
]

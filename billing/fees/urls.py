"""Portal URLs of fee schedules (included into the ``billing`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("fees/", views.schedule_list, name="fee_schedules"),
    path("fees/billable/", views.billable_codes, name="billable_codes"),
    path(
        "fees/billable/<uuid:public_id>/remove",
        views.billable_code_remove_view,
        name="billable_code_remove",
    ),
    path("fees/<uuid:public_id>/", views.schedule_detail, name="fee_schedule"),
]

"""Portal pages of patients.guided: staff pages under /guided/, the tablet under /guided/pair/
and /guided/device/ (the device cookie's path)."""

from django.urls import path

from . import views

app_name = "guided"
urlpatterns = [
    path("", views.session_list, name="list"),
    path("start/", views.session_start, name="start"),
    path("pair/", views.pair, name="pair"),
    path("device/", views.device_page, name="device"),
    path("device/upload/", views.device_upload_add, name="device_upload_add"),
    path("device/signature/", views.device_signature, name="device_signature"),
    path("device/upload/<uuid:upload_id>/", views.device_upload, name="device_upload"),
    path("<uuid:public_id>/", views.console, name="console"),
    path("<uuid:public_id>/code/", views.code_new, name="code"),
    path("<uuid:public_id>/qr.svg", views.qr_code, name="qr"),
    path("<uuid:public_id>/complete/", views.session_complete, name="complete"),
    path("<uuid:public_id>/end/", views.session_end, name="end"),
    path("<uuid:public_id>/upload/<uuid:upload_id>/", views.staff_upload, name="staff_upload"),
]

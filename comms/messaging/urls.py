"""URLs of the inbox, a patient's communications tab, templates and gateway settings
(included from comms/urls.py, in the "comms" namespace)."""

from django.urls import path

from comms.messaging import views

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/counts/", views.inbox_counts_view, name="inbox_counts"),
    path("patients/<uuid:public_id>/", views.patient_comms, name="patient"),
    path("patients/<uuid:public_id>/panel/", views.patient_comms_panel, name="patient_panel"),
    path("patients/<uuid:public_id>/send/", views.patient_sms_send, name="send"),
    path("conversations/<uuid:public_id>/read/", views.conversation_read, name="read"),
    path("conversations/<uuid:public_id>/archive/", views.conversation_archive, name="archive"),
    path("messages/<uuid:public_id>/assign/", views.message_assign, name="assign"),
    path("templates/", views.templates_page, name="templates"),
    path("settings/", views.settings_page, name="settings"),
]

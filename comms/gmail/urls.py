"""URLs of the Gmail pages (included from comms/urls.py, in the "comms" namespace)."""

from django.urls import path

from comms.gmail import views

urlpatterns = [
    path("mailboxes/", views.gmail_settings, name="gmail_settings"),
    path("mailboxes/connect/", views.gmail_connect, name="gmail_connect"),
    path("mailboxes/oauth/callback/", views.gmail_oauth_callback, name="gmail_oauth_callback"),
    path("mailboxes/<uuid:public_id>/disconnect/", views.gmail_disconnect, name="gmail_disconnect"),
    path("mailboxes/<uuid:public_id>/sync/", views.gmail_sync_now, name="gmail_sync_now"),
    path("gmail/push/", views.gmail_push, name="gmail_push"),
    path("email/", views.email_list, name="email_list"),
    path("email/<uuid:public_id>/", views.email_detail, name="email_detail"),
    path("email/<uuid:public_id>/flags/", views.email_flags, name="email_flags"),
    path("email/<uuid:public_id>/link/", views.email_link, name="email_link"),
    path(
        "email/attachments/<uuid:public_id>/save/",
        views.email_attachment_save,
        name="email_attachment_save",
    ),
    path("patients/<uuid:public_id>/email/", views.email_compose, name="email_compose"),
    path("search/", views.message_search, name="message_search"),
]

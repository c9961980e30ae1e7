"""Portal pages of scheduling (namespace ``scheduling``, mounted at /schedule/) and the
calendar's JSON API under /schedule/api/."""

from django.urls import path

from . import api, ical, views, views_booking, views_field, views_waitlist

app_name = "scheduling"

urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("dispatch", views.dispatch, name="dispatch"),
    path("book", views_booking.book, name="book"),
    path("book/patients", views_booking.patient_search, name="book_patients"),
    path("book/slots", views_booking.slots, name="book_slots"),
    path("appointments/<uuid:public_id>/", views.appointment_detail, name="appointment"),
    path(
        "appointments/<uuid:public_id>/cancel",
        views.appointment_cancel,
        name="appointment_cancel",
    ),
    path(
        "appointments/<uuid:public_id>/series-edit",
        views.appointment_series_edit,
        name="appointment_series_edit",
    ),
    path(
        "appointments/<uuid:public_id>/<slug:action>",
        views.appointment_action,
        name="appointment_action",
    ),
    path("waitlist", views_waitlist.waitlist, name="waitlist"),
    path("waitlist/<uuid:public_id>/remove", views_waitlist.entry_remove, name="waitlist_remove"),
    path(
        "waitlist/offers/<uuid:public_id>/accept",
        views_waitlist.offer_accept,
        name="waitlist_offer_accept",
    ),
    path(
        "waitlist/offers/<uuid:public_id>/decline",
        views_waitlist.offer_decline,
        name="waitlist_offer_decline",
    ),
    path("patients/<uuid:public_id>/", views.patient_appointments, name="patient_appointments"),
    path("my-day", views_field.my_day, name="my_day"),
    path("my-day/<uuid:public_id>/<slug:action>", views_field.my_day_action, name="my_day_action"),
    path("my-availability", views_field.my_availability, name="my_availability"),
    path(
        "my-availability/exceptions/<uuid:public_id>/remove",
        views_field.exception_remove,
        name="exception_remove",
    ),
    path("my-calendar-feed", ical.feed_settings, name="feed_settings"),
    path("feed/<str:token>.ics", ical.feed, name="feed"),
    path("api/events", api.CalendarEventsView.as_view(), name="api_events"),
    path(
        "api/appointments/<uuid:public_id>/move",
        api.AppointmentMoveView.as_view(),
        name="api_move",
    ),
]

"""Portal pages of scheduling (namespace ``scheduling``, mounted at /schedule/) and the
calendar's JSON API under /schedule/api/."""

from django.urls import path

from scheduling.booking import views as booking_views
from scheduling.calendar import api, ical
from scheduling.calendar import views as calendar_views
from scheduling.field import views as field_views
from scheduling.waitlist import views as waitlist_views

app_name = "scheduling"

urlpatterns = [
    path("", calendar_views.calendar, name="calendar"),
    path("dispatch", calendar_views.dispatch, name="dispatch"),
    path("book", booking_views.book, name="book"),
    path("book/patients", booking_views.patient_search, name="book_patients"),
    path("book/slots", booking_views.slots, name="book_slots"),
    path("appointments/<uuid:public_id>/", calendar_views.appointment_detail, name="appointment"),
    path(
        "appointments/<uuid:public_id>/cancel",
        calendar_views.appointment_cancel,
        name="appointment_cancel",
    ),
    path(
        "appointments/<uuid:public_id>/series-edit",
        calendar_views.appointment_series_edit,
        name="appointment_series_edit",
    ),
    path(
        "appointments/<uuid:public_id>/<slug:action>",
        calendar_views.appointment_action,
        name="appointment_action",
    ),
    path("waitlist", waitlist_views.waitlist, name="waitlist"),
    path("waitlist/<uuid:public_id>/remove", waitlist_views.entry_remove, name="waitlist_remove"),
    path(
        "waitlist/offers/<uuid:public_id>/accept",
        waitlist_views.offer_accept,
        name="waitlist_offer_accept",
    ),
    path(
        "waitlist/offers/<uuid:public_id>/decline",
        waitlist_views.offer_decline,
        name="waitlist_offer_decline",
    ),
    path(
        "patients/<uuid:public_id>/",
        calendar_views.patient_appointments,
        name="patient_appointments",
    ),
    path("my-day", field_views.my_day, name="my_day"),
    path("my-day/<uuid:public_id>/<slug:action>", field_views.my_day_action, name="my_day_action"),
    path("my-availability", field_views.my_availability, name="my_availability"),
    path(
        "my-availability/exceptions/<uuid:public_id>/remove",
        field_views.exception_remove,
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

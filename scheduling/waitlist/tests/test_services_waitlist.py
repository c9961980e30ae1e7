"""The waitlist: freed time is offered in order, the first to accept wins (also under
concurrency), offers expire and the slot moves on to the next patients in line."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from clinic.errors import ApplicationError
from patients.tests.factories import PatientFactory
from scheduling.booking.services import appointment_book, appointment_cancel, appointment_move
from scheduling.booking.tests.test_booking_race import race
from scheduling.models import WaitlistEntry, WaitlistOffer
from scheduling.tests.outbox import events_dispatch
from scheduling.waitlist.services import (
    OFFER_FANOUT,
    WaitlistRefused,
    waitlist_add,
    waitlist_offer_accept,
    waitlist_offer_decline,
    waitlist_offers_expire,
)

pytestmark = pytest.mark.django_db


def _wait(employee, location, type_, monday, **kw):
    return waitlist_add(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=type_,
        location=location,
        earliest_date=kw.pop("earliest", monday),
        latest_date=kw.pop("latest", monday + datetime.timedelta(days=7)),
        **kw,
    )


@pytest.fixture
def booked(employee, patient, setup_type, tech, at):
    return appointment_book(
        actor=employee, patient=patient, type=setup_type, starts_at=at(0, "10:00"), technician=tech
    )


def test_a_cancelled_slot_is_offered_to_matching_entries_in_order(
    employee, location, types, setup_type, booked, monday
):
    entries = [_wait(employee, location, setup_type, monday) for _ in range(OFFER_FANOUT + 1)]
    too_late = _wait(
        employee,
        location,
        setup_type,
        monday,
        earliest=monday + datetime.timedelta(days=1),
    )
    mornings_only = _wait(
        employee, location, types["FOLLOW_UP"], monday, latest_time=datetime.time(9, 30)
    )
    appointment_cancel(actor=employee, appointment=booked, reason="Patient ill")
    events_dispatch()  # the cancelled event's handler offers the time

    offers = list(WaitlistOffer.objects.order_by("rank"))
    assert [o.entry for o in offers] == entries[:OFFER_FANOUT]
    assert [o.rank for o in offers] == [1, 2, 3]
    assert {(o.starts_at, o.technician_id) for o in offers} == {
        (booked.starts_at, booked.technician_id)
    }
    assert not WaitlistOffer.objects.filter(entry__in=[too_late, mornings_only]).exists()


def test_the_first_to_accept_wins_and_the_others_are_told(
    employee, location, setup_type, booked, monday
):
    for _ in range(2):
        _wait(employee, location, setup_type, monday)
    appointment_cancel(actor=employee, appointment=booked, reason="Patient ill")
    events_dispatch()  # the cancelled event's handler offers the time
    first, second = WaitlistOffer.objects.order_by("rank")

    appointment = waitlist_offer_accept(actor=employee, offer=second)
    assert appointment.starts_at == booked.starts_at
    assert appointment.patient == second.entry.patient
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.state == WaitlistOffer.State.ACCEPTED
    assert first.state == WaitlistOffer.State.WITHDRAWN
    assert WaitlistEntry.objects.get(pk=second.entry_id).state == WaitlistEntry.State.BOOKED
    with pytest.raises(WaitlistRefused, match="Someone else took this slot first"):
        waitlist_offer_accept(actor=employee, offer=first)


@pytest.mark.django_db(transaction=True)
def test_concurrent_acceptances_have_exactly_one_winner(location, setup_type, tech, at, monday):
    from clinic.models import Role
    from clinic.tests.factories import staff_user

    employee = staff_user(role=Role.EMPLOYEE, location=location)
    booked = appointment_book(
        actor=employee,
        patient=PatientFactory(home_location=location),
        type=setup_type,
        starts_at=at(0, "10:00"),
        technician=tech,
    )
    for _ in range(OFFER_FANOUT):
        _wait(employee, location, setup_type, monday)
    appointment_cancel(actor=employee, appointment=booked, reason="Patient ill")
    events_dispatch()  # the cancelled event's handler offers the time
    offers = list(WaitlistOffer.objects.order_by("rank"))

    won, refused = race(lambda i: waitlist_offer_accept(actor=employee, offer=offers[i]), n=3)

    assert len(won) == 1
    assert len(refused) == 2
    assert all(isinstance(e, WaitlistRefused) for e in refused), refused
    assert WaitlistOffer.objects.filter(state="ACCEPTED").count() == 1


def test_moving_an_appointment_away_offers_its_old_time(
    employee, location, setup_type, booked, monday, at
):
    entry = _wait(employee, location, setup_type, monday)
    appointment_move(
        actor=employee, appointment=booked, starts_at=at(1, "14:00"), expected_version=1
    )
    events_dispatch()
    offer = WaitlistOffer.objects.get()
    assert offer.entry == entry
    assert offer.starts_at == at(0, "10:00")


def test_expired_and_declined_offers_pass_the_slot_to_the_next_in_line(
    employee, location, setup_type, booked, monday
):
    entries = [_wait(employee, location, setup_type, monday) for _ in range(OFFER_FANOUT + 2)]
    appointment_cancel(actor=employee, appointment=booked, reason="Patient ill")
    events_dispatch()  # the cancelled event's handler offers the time
    first_round = list(WaitlistOffer.objects.order_by("rank"))
    waitlist_offer_decline(actor=None, offer=first_round[0])
    # Declining one while others still hold it offers nothing new.
    assert WaitlistOffer.objects.count() == OFFER_FANOUT

    expired = waitlist_offers_expire(now=timezone.now() + datetime.timedelta(hours=3))
    assert expired == OFFER_FANOUT - 1
    second_round = WaitlistOffer.objects.filter(state="PENDING").order_by("rank")
    assert [o.entry for o in second_round] == entries[OFFER_FANOUT:]
    assert [o.rank for o in second_round] == [4, 5]
    # An expired offer cannot be accepted afterwards.
    with pytest.raises(WaitlistRefused, match="no longer open"):
        waitlist_offer_accept(actor=employee, offer=first_round[1])


def test_a_patient_waits_once_per_type_and_location(employee, location, setup_type, monday):
    entry = _wait(employee, location, setup_type, monday)
    with pytest.raises(WaitlistRefused, match="already waiting"):
        waitlist_add(
            actor=employee,
            patient=entry.patient,
            type=setup_type,
            location=location,
            earliest_date=monday,
            latest_date=monday,
        )


def test_a_wait_ending_today_at_the_location_is_accepted_on_a_us_evening(
    employee, patient, setup_type, location, monkeypatch
):
    # 2026-12-04 02:30 UTC is 3 Dec 20:30 in Chicago: 3 Dec has not passed there.
    evening = datetime.datetime(2026, 12, 4, 2, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: evening)
    location.timezone = "America/Chicago"
    location.save()
    entry = waitlist_add(
        actor=employee,
        patient=patient,
        type=setup_type,
        location=location,
        earliest_date=datetime.date(2026, 12, 3),
        latest_date=datetime.date(2026, 12, 3),
    )
    assert entry.latest_date == datetime.date(2026, 12, 3)
    with pytest.raises(ApplicationError, match="Those dates have passed"):
        waitlist_add(
            actor=employee,
            patient=PatientFactory(home_location=location),
            type=setup_type,
            location=location,
            earliest_date=datetime.date(2026, 12, 2),
            latest_date=datetime.date(2026, 12, 2),
        )

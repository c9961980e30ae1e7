"""Fifty people book the same technician at overlapping times, at once, each on their own
database connection: exactly one wins, the others are told who is busy when, and no two active
appointments of the technician overlap in the table."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from clinic.models import Role
from clinic.tests.conftest import wait_until
from clinic.tests.factories import staff_user
from patients.tests.factories import PatientFactory
from scheduling.booking.services import BookingConflict, appointment_book
from scheduling.models import Appointment

ATTEMPTS = 50

OVERLAP_SQL = """
    SELECT count(*) FROM scheduling_appointment a
    JOIN scheduling_appointment b
      ON a.technician_id = b.technician_id AND a.id < b.id
     AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
    WHERE a.state IN ('booked', 'checked_in', 'in_progress', 'waiting_open', 'interrupted')
      AND b.state IN ('booked', 'checked_in', 'in_progress', 'waiting_open', 'interrupted')
"""


def race(attempt, n: int = ATTEMPTS) -> tuple[list, list]:
    """Run ``attempt(i)`` in ``n`` threads released together; (results, errors)."""
    barrier = threading.Barrier(n)
    results: list = []
    errors: list = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait()
            value = attempt(i)
            with lock:
                results.append(value)
        except Exception as exc:  # collected and asserted on by the caller
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_bookings_one_wins_the_rest_get_the_reason(location, setup_type, tech, at):
    employee = staff_user(role=Role.EMPLOYEE, location=location)
    patients = [PatientFactory(home_location=location) for _ in range(ATTEMPTS)]
    base = at(0, "10:00")

    def attempt(i: int) -> Appointment:
        # Every attempt overlaps every other: starts spread over 10:00-10:49, 60 minutes long.
        return appointment_book(
            actor=employee,
            patient=patients[i],
            type=setup_type,
            starts_at=base + datetime.timedelta(minutes=i % 50),
            technician=tech,
        )

    won, refused = race(attempt)

    assert len(won) == 1
    assert len(refused) == ATTEMPTS - 1
    assert all(isinstance(e, BookingConflict) for e in refused), {type(e) for e in refused}
    winner = won[0]
    for error in refused:
        assert "Dana Tech is already booked on Mon" in error.message
        assert error.extra["conflicts"][0]["appointment"] == str(winner.public_id)
    assert Appointment.objects.count() == 1
    with connection.cursor() as cur:
        cur.execute(OVERLAP_SQL)
        assert cur.fetchone()[0] == 0


WAITING_ON_ME = """
    SELECT count(*) FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND pg_backend_pid() = ANY(pg_blocking_pids(pid))
"""


def _someone_waits_on_me() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")  # the view is read fresh each time
        cur.execute(WAITING_ON_ME)
        return cur.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_when_the_check_cannot_see_the_other_booking_the_constraint_refuses_it_with_the_same_words(
    location, setup_type, tech, at
):
    """The other booking is written but not committed when ours checks, so the check passes;
    the exclusion constraint then waits for it, refuses ours, and we explain as usual."""
    employee = staff_user(role=Role.EMPLOYEE, location=location)
    first, second = PatientFactory(home_location=location), PatientFactory(home_location=location)
    written = threading.Event()

    def hold_then_commit() -> None:
        try:
            with transaction.atomic():
                appointment_book(
                    actor=employee,
                    patient=first,
                    type=setup_type,
                    starts_at=at(0, "10:00"),
                    technician=tech,
                )
                written.set()
                # Commit only once our booking below is waiting on the constraint (a backend
                # blocked by this one), so the check cannot have seen this row.
                wait_until(_someone_waits_on_me)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_then_commit)
    holder.start()
    assert written.wait(30)
    with pytest.raises(BookingConflict) as caught:
        appointment_book(
            actor=employee,
            patient=second,
            type=setup_type,
            starts_at=at(0, "10:30"),
            technician=tech,
        )
    holder.join()
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert "Dana Tech is already booked on Mon" in caught.value.message
    assert "10:00\u201311:00" in caught.value.message
    assert Appointment.objects.count() == 1

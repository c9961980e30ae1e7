"""Charges are written by the outbox handler of ``appointment.state_changed``: once per
completion whatever happens to the event (redelivered, two workers at once), reversed when the
completion is undone, and never edited or deleted."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, ProgrammingError, connections, transaction

from billing.charges.handlers import charges_on_appointment_state
from billing.charges.models import Charge, ChargeKind, ChargeStatus
from billing.charges.services import (
    charges_create_for_appointment,
    charges_reverse_for_appointment,
)
from billing.tests.factories import completed_visit, schedule_with_line, study_type
from clinic.models import AuditEvent, OutboxEvent, Role
from clinic.tests.factories import staff_user
from patients.clinical.tests.factories import InsurancePolicyFactory
from patients.tests.factories import PatientFactory
from scheduling.booking.services import (
    appointment_check_in,
    appointment_complete,
    appointment_enter_in_error,
)
from scheduling.models import AppointmentState
from scheduling.tests.factories import AppointmentFactory, AppointmentTypeFactory
from scheduling.tests.outbox import events_dispatch


@pytest.fixture
def insured(location, payer):
    patient = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=patient, payer=payer)
    return patient


@pytest.fixture
def study(admin, location):
    return study_type(admin, location)


def _in_progress_visit(location, appt_type, patient):
    return AppointmentFactory(
        location=location,
        patient=patient,
        type=appt_type,
        starts_at=datetime.datetime(2026, 12, 4, 15, tzinfo=datetime.UTC),
        state=AppointmentState.IN_PROGRESS,
    )


def test_completing_a_visit_writes_a_priced_charge_through_the_outbox(
    admin, employee, location, payer, insured, study
):
    schedule_with_line(admin, payer, price="1400.00", allowed="1100.00")
    visit = _in_progress_visit(location, study, insured)

    appointment_complete(actor=employee, appointment=visit)
    assert not Charge.objects.exists()  # not in the request: after commit, by the handler
    events_dispatch()

    charge = Charge.objects.get()
    assert (charge.kind, charge.status, charge.code) == ("charge", "priced", "95810")
    assert charge.payer == payer
    assert charge.amount == Decimal("1400.00")
    assert charge.allowed_amount == Decimal("1100.00")
    assert charge.date_of_service == datetime.date(2026, 12, 4)
    assert charge.source_event_id == OutboxEvent.objects.get(name="appointment.state_changed").pk
    assert AuditEvent.objects.filter(action="charge.created", object_id=str(charge.public_id))


def test_the_same_event_handled_twice_writes_one_charge(admin, location, payer, insured, study):
    schedule_with_line(admin, payer)
    visit = _in_progress_visit(location, study, insured)
    appointment_complete(actor=admin, appointment=visit)
    event = OutboxEvent.objects.get(name="appointment.state_changed")

    charges_on_appointment_state(event)
    charges_on_appointment_state(event)  # redelivered past the handler ledger
    events_dispatch()  # and the real dispatcher on top

    assert Charge.objects.count() == 1
    assert AuditEvent.objects.filter(action="charge.created").count() == 1


def test_the_database_refuses_a_second_charge_for_the_same_line(admin, location, payer, study):
    schedule_with_line(admin, payer)
    visit = completed_visit(location, study)
    [charge] = charges_create_for_appointment(actor=None, appointment=visit)
    with pytest.raises(IntegrityError), transaction.atomic():
        Charge.objects.create(
            **{
                f.attname: getattr(charge, f.attname)
                for f in Charge._meta.concrete_fields
                if f.attname not in ("id", "public_id")
            }
        )


@pytest.mark.django_db(transaction=True)
def test_two_workers_handling_the_completion_at_once_write_one_charge(location, payer):
    admin = staff_user(role=Role.ADMIN, location=location)
    schedule_with_line(admin, payer)
    appt_type = study_type(admin, location)
    patient = PatientFactory(home_location=location)
    InsurancePolicyFactory(patient=patient, payer=payer)
    visit = _in_progress_visit(location, appt_type, patient)
    appointment_complete(actor=admin, appointment=visit)
    event = OutboxEvent.objects.get(name="appointment.state_changed")

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                charges_on_appointment_state(event)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Charge.objects.filter(appointment=visit).count() == 1
    assert AuditEvent.objects.filter(action="charge.created").count() == 1


def test_undoing_a_completion_adds_a_reversing_line_and_keeps_the_charge(
    admin, location, payer, insured, study
):
    schedule_with_line(admin, payer, price="1400.00")
    visit = _in_progress_visit(location, study, insured)
    appointment_complete(actor=admin, appointment=visit)
    events_dispatch()

    appointment_enter_in_error(actor=admin, appointment=visit, reason="Wrong patient")
    events_dispatch()
    charges_reverse_for_appointment(actor=None, appointment=visit)  # a second undo: no effect

    charge = Charge.objects.get(kind=ChargeKind.CHARGE)
    reversal = Charge.objects.get(kind=ChargeKind.REVERSAL)
    assert reversal.reverses == charge
    assert reversal.amount == Decimal("-1400.00")
    assert charge.amount == Decimal("1400.00")
    assert sum(c.amount for c in Charge.objects.all()) == 0
    assert AuditEvent.objects.filter(action="charge.reversed").count() == 1


def test_an_undo_handled_before_the_completion_still_nets_to_zero(admin, location, payer, study):
    schedule_with_line(admin, payer)
    visit = completed_visit(location, study, state=AppointmentState.ENTERED_IN_ERROR)

    charges_reverse_for_appointment(actor=None, appointment=visit)  # nothing to reverse yet
    charges_create_for_appointment(actor=None, appointment=visit)

    assert Charge.objects.filter(kind=ChargeKind.CHARGE).count() == 1
    assert Charge.objects.filter(kind=ChargeKind.REVERSAL).count() == 1


def test_other_state_changes_write_nothing(admin, location, payer, insured, study):
    schedule_with_line(admin, payer)
    visit = AppointmentFactory(location=location, patient=insured, type=study)
    appointment_check_in(actor=admin, appointment=visit)
    events_dispatch()
    assert not Charge.objects.exists()


def test_a_type_without_billable_codes_writes_nothing(admin, location, payer, insured):
    follow_up = AppointmentTypeFactory(organization=location.organization, code="FOLLOW_UP")
    visit = _in_progress_visit(location, follow_up, insured)
    appointment_complete(actor=admin, appointment=visit)
    events_dispatch()
    assert not Charge.objects.exists()


def test_the_ledger_refuses_update_and_delete(admin, location, payer, study):
    schedule_with_line(admin, payer)
    [charge] = charges_create_for_appointment(
        actor=None, appointment=completed_visit(location, study)
    )
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        Charge.objects.filter(pk=charge.pk).update(amount=Decimal("1.00"))
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        Charge.objects.filter(pk=charge.pk).delete()
    assert Charge.objects.get(pk=charge.pk).status == ChargeStatus.HELD

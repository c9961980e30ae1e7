"""Authorization services: validation, units that never go past the approved number (even
under concurrent use), and expiry warnings at 30, 14 and 7 days, once each, to the right staff."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from clinic import times
from clinic.errors import ApplicationError, PermissionDenied
from clinic.models import AuditEvent, Notification, Role
from clinic.tests.factories import LocationFactory
from patients.clinical.tests.factories import PayerFactory
from patients.models import Authorization, AuthorizationStatus, AuthorizationWarning
from patients.referrals import services
from patients.referrals.tests.factories import AuthorizationFactory
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 1)


def _current(**kwargs):
    """An authorization valid today, whatever today is."""
    today = timezone.localdate()
    kwargs.setdefault("valid_from", today - datetime.timedelta(days=10))
    kwargs.setdefault("valid_to", today + datetime.timedelta(days=100))
    return AuthorizationFactory(**kwargs)


@pytest.fixture
def employee(make_staff, location):
    return make_staff(role=Role.EMPLOYEE, location=location)


def _data(location, **overrides):
    values = {
        "payer": PayerFactory(organization=location.organization),
        "number": "A-123",
        "codes": "e0601, A7030 e0601",
        "units_approved": 4,
        "valid_from": datetime.date(2026, 1, 1),
        "valid_to": datetime.date(2026, 6, 30),
    }
    values.update(overrides)
    return services.AuthorizationData(**values)


def test_add_cleans_codes_and_audits(employee, location):
    patient = PatientFactory(home_location=location)
    auth = services.authorization_add(actor=employee, patient=patient, data=_data(location))
    assert auth.codes == ["E0601", "A7030"]
    assert AuditEvent.objects.filter(
        action="authorization.added", object_id=str(auth.public_id)
    ).exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"codes": "E06"}, "5-character"),
        ({"codes": "E060!"}, "5-character"),
        ({"codes": " , "}, "at least one code"),
        ({"valid_to": datetime.date(2025, 12, 31)}, "on or after"),
        ({"number": " "}, "authorization number"),
        ({"units_approved": -1}, "zero or more"),
    ],
)
def test_add_refuses_bad_input_with_a_clear_message(employee, location, overrides, message):
    patient = PatientFactory(home_location=location)
    with pytest.raises(ApplicationError, match=message):
        services.authorization_add(
            actor=employee, patient=patient, data=_data(location, **overrides)
        )
    assert not Authorization.objects.exists()


def test_add_refuses_a_payer_of_another_organization(employee, location):
    patient = PatientFactory(home_location=location)
    with pytest.raises(ApplicationError, match="payer"):
        services.authorization_add(
            actor=employee, patient=patient, data=_data(location, payer=PayerFactory())
        )


def test_a_clinician_cannot_add(make_staff, location):
    clinician = make_staff(role=Role.CLINICIAN, location=location)
    with pytest.raises(PermissionDenied):
        services.authorization_add(
            actor=clinician, patient=PatientFactory(home_location=location), data=_data(location)
        )
    assert not Authorization.objects.exists()


def test_update_refuses_fewer_approved_than_used(employee, location):
    auth = _current(patient=PatientFactory(home_location=location), units_approved=10, units_used=6)
    data = _data(location, units_approved=5, valid_from=auth.valid_from, valid_to=auth.valid_to)
    with pytest.raises(ApplicationError, match="6 units are already used"):
        services.authorization_update(actor=employee, authorization=auth, data=data)
    auth.refresh_from_db()
    assert auth.units_approved == 10


def test_using_units_counts_them_and_the_last_unit_exhausts(employee, location):
    auth = _current(patient=PatientFactory(home_location=location), units_approved=5)
    auth = services.authorization_units_use(actor=employee, authorization=auth, units=3)
    assert (auth.units_used, auth.status) == (3, AuthorizationStatus.ACTIVE)
    with pytest.raises(ApplicationError, match="Only 2 units are left"):
        services.authorization_units_use(actor=employee, authorization=auth, units=3)
    auth = services.authorization_units_use(actor=employee, authorization=auth, units=2)
    auth.refresh_from_db()
    assert (auth.units_used, auth.status) == (5, AuthorizationStatus.EXHAUSTED)
    with pytest.raises(ApplicationError, match="exhausted"):
        services.authorization_units_use(actor=employee, authorization=auth, units=1)


def test_units_cannot_be_used_outside_the_valid_dates(employee, location):
    today = times.local_today(location)  # the patient's location's date, not the UTC one
    auth = _current(
        patient=PatientFactory(home_location=location),
        valid_from=today - datetime.timedelta(days=30),
        valid_to=today - datetime.timedelta(days=1),
    )
    with pytest.raises(ApplicationError, match="not valid today"):
        services.authorization_units_use(actor=employee, authorization=auth, units=1)
    auth.refresh_from_db()
    assert auth.units_used == 0


def test_the_database_refuses_more_used_than_approved(location):
    from django.db import IntegrityError, transaction

    auth = _current(patient=PatientFactory(home_location=location), units_approved=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Authorization.objects.filter(pk=auth.pk).update(units_used=3)


@pytest.mark.django_db(transaction=True)
def test_concurrent_uses_never_exceed_the_approved_units():
    location = LocationFactory()
    from clinic.tests.factories import staff_user

    employee = staff_user(role=Role.EMPLOYEE, location=location)
    auth = _current(patient=PatientFactory(home_location=location), units_approved=10)
    employee.is_org_admin  # noqa: B018  (load memberships before the threads start)
    workers = 8
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def use() -> None:
        try:
            barrier.wait()
            services.authorization_units_use(actor=employee, authorization=auth, units=3)
            result = "ok"
        except ApplicationError:
            result = "refused"
        finally:
            connection.close()  # each thread had its own connection
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=use) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    auth.refresh_from_db()
    assert outcomes.count("ok") == 3
    assert outcomes.count("refused") == workers - 3
    assert auth.units_used == 9
    assert auth.units_used <= auth.units_approved


# -- expiry warnings ---------------------------------------------------------------------------


@pytest.fixture
def staff(make_staff, location):
    other_location = LocationFactory(organization=location.organization)
    return {
        "employee": make_staff(role=Role.EMPLOYEE, location=location),
        "admin": make_staff(role=Role.ADMIN, location=location),
        "clinician": make_staff(role=Role.CLINICIAN, location=location),
        "technician": make_staff(role=Role.FIELD_TECHNICIAN, location=location),
        "support": make_staff(role=Role.SUPPORT, location=location),
        "other_location": make_staff(role=Role.EMPLOYEE, location=other_location),
        "other_org": make_staff(role=Role.EMPLOYEE),
    }


def _expiring(location, days_after_today: int, today=TODAY):
    return AuthorizationFactory(
        patient=PatientFactory(home_location=location),
        valid_from=today - datetime.timedelta(days=60),
        valid_to=today + datetime.timedelta(days=days_after_today),
    )


def test_warnings_go_out_at_30_14_and_7_days_once_each(location, staff):
    auth = _expiring(location, 40)
    sent_on: dict[int, int] = {}
    for days_left in range(40, -1, -1):
        today = auth.valid_to - datetime.timedelta(days=days_left)
        first = services.authorizations_warn_expiring(today=today)
        again = services.authorizations_warn_expiring(today=today)
        assert again == 0
        if first:
            sent_on[days_left] = first
    assert sent_on == {30: 1, 14: 1, 7: 1}
    assert sorted(AuthorizationWarning.objects.values_list("days_before", flat=True)) == [7, 14, 30]
    titles = sorted(
        Notification.objects.filter(recipient=staff["employee"]).values_list("title", flat=True)
    )
    assert titles == [
        "An authorization expires in 14 days",
        "An authorization expires in 30 days",
        "An authorization expires in 7 days",
    ]


def test_warnings_reach_the_locations_office_staff_and_admins_only(location, staff):
    auth = _expiring(location, 14)
    services.authorizations_warn_expiring(today=TODAY)
    recipients = set(Notification.objects.values_list("recipient_id", flat=True))
    assert recipients == {staff["employee"].pk, staff["admin"].pk}
    notification = Notification.objects.filter(recipient=staff["employee"]).get()
    assert notification.url.endswith(f"#authorization-{auth.public_id}")
    assert str(auth.patient.public_id) in notification.url
    assert auth.patient.last_name not in notification.title + notification.body


def test_a_late_start_sends_the_current_threshold_and_never_the_missed_larger_one(location, staff):
    auth = _expiring(location, 10)
    assert services.authorizations_warn_expiring(today=TODAY) == 1
    assert list(AuthorizationWarning.objects.values_list("days_before", flat=True)) == [14]
    assert Notification.objects.filter(recipient=staff["employee"]).get().title == (
        "An authorization expires in 10 days"
    )
    for day in range(1, 11):
        services.authorizations_warn_expiring(today=TODAY + datetime.timedelta(days=day))
    assert sorted(auth.warnings.values_list("days_before", flat=True)) == [7, 14]


def test_inactive_or_far_off_authorizations_are_not_warned(location, staff):
    _expiring(location, 31)
    cancelled = _expiring(location, 14)
    Authorization.objects.filter(pk=cancelled.pk).update(status=AuthorizationStatus.CANCELLED)
    assert services.authorizations_warn_expiring(today=TODAY) == 0
    assert not Notification.objects.exists()
    _expiring(location, 14)  # an active one in the window is warned by the same run
    assert services.authorizations_warn_expiring(today=TODAY) == 1
    assert Notification.objects.exists()


def test_the_daily_task_calls_the_job(location, staff):
    from patients.referrals.tasks import authorizations_warn_expiring_task

    _expiring(location, 7, today=timezone.localdate())
    assert authorizations_warn_expiring_task.apply().get() == 1
    assert authorizations_warn_expiring_task.apply().get() == 0


def test_ended_authorizations_become_expired_once(location):
    ended = _expiring(location, -1)
    current = _expiring(location, 0)
    assert services.authorizations_expire(today=TODAY) == 1
    assert services.authorizations_expire(today=TODAY) == 0
    ended.refresh_from_db()
    current.refresh_from_db()
    assert (ended.status, current.status) == (
        AuthorizationStatus.EXPIRED,
        AuthorizationStatus.ACTIVE,
    )
    assert AuditEvent.objects.filter(
        action="authorization.expired", object_id=str(ended.public_id)
    ).exists()


def test_a_new_end_date_gets_its_own_warnings(location, staff):
    today = timezone.localdate()  # the update decides ACTIVE/EXPIRED by the real date
    auth = _expiring(location, 7, today=today)
    services.authorizations_warn_expiring(today=today)
    data = services.AuthorizationData(
        payer=auth.payer,
        number=auth.number,
        codes=auth.codes,
        units_approved=auth.units_approved,
        valid_from=auth.valid_from,
        valid_to=today + datetime.timedelta(days=30),
    )
    services.authorization_update(actor=staff["employee"], authorization=auth, data=data)
    assert not auth.warnings.exists()
    assert services.authorizations_warn_expiring(today=today) == 1
    assert list(auth.warnings.values_list("days_before", flat=True)) == [30]


def test_beat_runs_the_warning_task_daily_at_seven_utc():
    from config.celery import app
    from config.settings import base as settings  # the test settings switch beat off

    entry = settings.CELERY_BEAT_SCHEDULE["authorizations-warn-expiring"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert entry["schedule"].hour == {7} and entry["schedule"].minute == {0}
    assert settings.CELERY_TIMEZONE == "UTC"


def test_units_can_be_used_on_the_last_valid_day_where_the_patient_is_seen(
    employee, location, monkeypatch
):
    # 2026-12-04 02:30 UTC is still 3 Dec in Chicago: an authorization valid to 3 Dec is valid.
    evening = datetime.datetime(2026, 12, 4, 2, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: evening)
    location.timezone = "America/Chicago"
    location.save()
    auth = AuthorizationFactory(
        patient=PatientFactory(home_location=location),
        valid_from=datetime.date(2026, 11, 1),
        valid_to=datetime.date(2026, 12, 3),
        units_approved=5,
    )
    used = services.authorization_units_use(actor=employee, authorization=auth, units=1)
    assert (used.units_used, used.status) == (1, AuthorizationStatus.ACTIVE)

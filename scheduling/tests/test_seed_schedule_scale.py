"""seed_schedule_scale at a tiny size: the rows it loads obey the same rules as booked ones."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from scheduling.booking.tests.test_booking_race import OVERLAP_SQL
from scheduling.models import Appointment, TechnicianProfile

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("defer", [False, True])
def test_a_tiny_load_has_technicians_hours_and_no_overlaps(defer):
    out = io.StringIO()
    args = ["--locations", "2", "--technicians", "3", "--days", "21", "--per-day", "3"]
    args += ["--patients-per-location", "60", "--org", "tiny"]
    call_command("seed_schedule_scale", *args, *(["--defer-indexes"] if defer else []), stdout=out)

    assert "2 locations, 6 technicians, 120 patients" in out.getvalue()
    rows = Appointment.objects.filter(organization__slug="tiny")
    workdays = len({a.starts_at.date() for a in rows})
    assert rows.count() == 2 * 3 * 3 * workdays
    assert set(rows.values_list("state", flat=True)) >= {"booked", "fulfilled"}
    assert TechnicianProfile.objects.filter(organization__slug="tiny").count() == 6
    with connection.cursor() as cursor:
        cursor.execute(OVERLAP_SQL)
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = "
            "'scheduling_appointment'::regclass AND contype = 'x'"
        )
        assert cursor.fetchone()[0] == 3  # the exclusion constraints are back after a deferred load


def test_refuses_an_existing_organization_and_too_few_patients():
    call_command(
        "seed_schedule_scale", "--locations", "1", "--technicians", "1", "--days", "3",
        "--patients-per-location", "50", "--org", "once", stdout=io.StringIO(),
    )  # fmt: skip
    with pytest.raises(CommandError, match="exists already"):
        call_command("seed_schedule_scale", "--org", "once", "--locations", "1")
    with pytest.raises(CommandError, match="at least --technicians x --per-day"):
        call_command("seed_schedule_scale", "--org", "x", "--patients-per-location", "50")

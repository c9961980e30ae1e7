"""The rental rule at its boundaries: a gap of 59 days continues the count, 60 starts a new
period; month 13 is the last; a month cannot start inside the previous one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from equipment.fleet.models import RentalMonth
from equipment.fleet.services import EquipmentInvalid, RentalStep, rental_month_next

# Month 3 covers 1 Mar - 31 Mar; it ends (exclusive) on 1 Apr.
LAST = RentalMonth(period=1, month=3, starts_on=date(2026, 3, 1))
LAST_ENDS = date(2026, 4, 1)


def test_first_month_is_period_1_month_1():
    assert rental_month_next(None, date(2026, 1, 5)) == RentalStep(1, 1)


def test_the_next_month_right_after_continues_the_count():
    assert rental_month_next(LAST, LAST_ENDS) == RentalStep(1, 4)


def test_a_gap_of_59_days_continues_the_count():
    assert rental_month_next(LAST, LAST_ENDS + timedelta(days=59)) == RentalStep(1, 4)


def test_a_gap_of_60_days_starts_a_new_period():
    assert rental_month_next(LAST, LAST_ENDS + timedelta(days=60)) == RentalStep(2, 1)


def test_a_month_cannot_start_inside_the_last_one():
    with pytest.raises(EquipmentInvalid, match="runs until 31 Mar 2026"):
        rental_month_next(LAST, LAST_ENDS - timedelta(days=1))


def test_month_12_is_followed_by_13():
    last = RentalMonth(period=2, month=12, starts_on=date(2026, 1, 31))
    # 31 Jan + 1 month = 28 Feb: calendar months, not 30 days.
    assert rental_month_next(last, date(2026, 2, 28)) == RentalStep(2, 13)


def test_after_month_13_the_rental_is_complete_even_after_a_long_gap():
    last = RentalMonth(period=1, month=13, starts_on=date(2026, 1, 1))
    for starts_on in (date(2026, 2, 1), date(2026, 12, 1)):
        with pytest.raises(EquipmentInvalid, match="all 13 months"):
            rental_month_next(last, starts_on)

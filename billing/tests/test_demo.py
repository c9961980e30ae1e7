"""The demo fee schedules and billable visits ``make run`` loads (``BillingConfig.seed_demo``)."""

from __future__ import annotations

from django.core.management import call_command

from billing.demo import BILLABLE, PRICES
from billing.fees.models import BillableCode, FeeLine, FeeSchedule
from patients.models import Payer


def test_seed_demo_loads_a_schedule_per_payer_a_self_pay_one_and_billable_visits(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    payers = Payer.objects.all()
    assert payers.exists()
    schedules = FeeSchedule.objects.all()
    assert schedules.count() == payers.count() + 1
    assert schedules.filter(payer__isnull=True).count() == 1
    self_pay = schedules.get(payer__isnull=True)
    assert FeeLine.objects.filter(schedule=self_pay).count() == len(PRICES)
    assert BillableCode.objects.count() == len(BILLABLE)

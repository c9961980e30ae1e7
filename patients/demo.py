"""Demo patients for ``manage.py seed_demo``: a working day's worth of records at each demo
location, created through the same services the portal uses. Names are generated (Faker, fixed
seed), never real people; phone numbers are in the 555-01xx range reserved for fiction."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING

from clinic.times import local_today
from patients.clinical.services import insurance_policy_add, payer_add
from patients.models import PatientFlag, PatientStatus, PayerKind, PolicyRank, Sex
from patients.record.services import (
    patient_assignment_add,
    patient_register,
    patient_status_change,
    physician_create,
)
from patients.referrals.services import referral_receive

if TYPE_CHECKING:
    from clinic.models import Location, User

PATIENTS_PER_LOCATION = 18
SEED = 4711
# Valid NPIs (check digit per DOMAIN.md), fictional physicians.
PHYSICIANS = [
    ("Naomi", "Castillo", "Hartford Pulmonary Associates", "1234567893"),
    ("Owen", "Becker", "Madison Family Medicine", "1993999998"),
]
PAYERS = [
    ("Medicare Part B", "MCR", PayerKind.MEDICARE),
    ("Evergreen Health Plan", "EVG", PayerKind.COMMERCIAL),
]


def _phone(rng: random.Random) -> str:
    return f"+1{rng.choice(['860', '608', '203'])}5550{rng.randint(100, 199)}"


def demo_patients_seed(*, admin: User, locations: list[Location], technician: User | None) -> int:
    """Create the demo patients; returns how many. Call once, inside seed_demo's transaction."""
    try:
        from faker import Faker
    except ImportError:  # Faker is a development dependency
        return 0
    fake = Faker("en_US")
    fake.seed_instance(SEED)
    rng = random.Random(SEED)  # noqa: S311 - demo data, not security
    physicians = [
        physician_create(actor=admin, first_name=f, last_name=la, practice=p, npi=npi)
        for f, la, p, npi in PHYSICIANS
    ]
    payers = [payer_add(actor=admin, name=n, payer_code=c, kind=k) for n, c, k in PAYERS]
    today = date.today()
    created = 0
    for location in locations:
        for i in range(PATIENTS_PER_LOCATION):
            sex = rng.choice([Sex.FEMALE, Sex.MALE])
            first = fake.first_name_female() if sex == Sex.FEMALE else fake.first_name_male()
            physician = rng.choice(physicians)
            patient = patient_register(
                actor=admin,
                home_location=location,
                first_name=first,
                last_name=fake.last_name(),
                date_of_birth=today - timedelta(days=rng.randint(30 * 365, 85 * 365)),
                sex=sex,
                phone_mobile=_phone(rng),
                email=f"{first.lower()}.{i}@mail.example",
                referring_physician=physician,
                flags=[
                    f
                    for f in (PatientFlag.FALL_RISK, PatientFlag.HARD_OF_HEARING)
                    if rng.random() < 0.15
                ],
            )
            insurance_policy_add(
                actor=admin,
                patient=patient,
                rank=PolicyRank.PRIMARY,
                payer=rng.choice(payers),
                member_id=f"{rng.randint(10**8, 10**9 - 1)}A",
                plan_name="Standard",
            )
            if i % 3 == 0:
                referral_receive(
                    actor=admin,
                    patient=patient,
                    physician=physician,
                    # The location's date: on a US evening date.today() (UTC) is tomorrow.
                    received_on=local_today(location) - timedelta(days=rng.randint(0, 20)),
                    reason="Suspected obstructive sleep apnea; snoring and daytime sleepiness.",
                )
            if i % 4 == 1:
                patient_status_change(
                    actor=admin, patient=patient, to=PatientStatus.SCHEDULED, reason="Demo data"
                )
            if technician is not None and i % 5 == 0:
                patient_assignment_add(
                    actor=admin, patient=patient, technician=technician, source="demo"
                )
            created += 1
    return created

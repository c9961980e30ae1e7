"""The demo organization comes with patients, made through the portal's services."""

from django.core.management import call_command

from clinic.models import AuditEvent, Role, User
from patients.demo import PATIENTS_PER_LOCATION
from patients.models import InsurancePolicy, Patient
from patients.record.selectors import patients_visible_to


def test_seed_demo_loads_patients_each_role_sees_as_it_should(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    org_users = User.objects.filter(email__endswith="@brightwater.example")
    employee = org_users.get(memberships__role=Role.EMPLOYEE)
    technician = org_users.get(memberships__role=Role.FIELD_TECHNICIAN)
    admin = org_users.filter(memberships__role=Role.ADMIN).first()

    assert Patient.objects.count() == 2 * PATIENTS_PER_LOCATION
    assert patients_visible_to(admin).count() == 2 * PATIENTS_PER_LOCATION
    # An employee of one location sees that location's patients only.
    assert patients_visible_to(employee).count() == PATIENTS_PER_LOCATION
    # A technician sees only the patients assigned to them.
    assigned = patients_visible_to(technician)
    assert 0 < assigned.count() < PATIENTS_PER_LOCATION * 2
    assert all(p.assignments.filter(technician=technician).exists() for p in assigned)
    # Member ids are stored encrypted and every creation went through an audited service.
    assert InsurancePolicy.objects.count() == 2 * PATIENTS_PER_LOCATION
    assert (
        AuditEvent.objects.filter(action="patient.registered").count() == 2 * PATIENTS_PER_LOCATION
    )


def test_seed_demo_twice_adds_no_second_set_of_patients(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Patient.objects.count() == 2 * PATIENTS_PER_LOCATION

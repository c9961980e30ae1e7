"""Demo communications go through the real services and show up where staff look."""

from __future__ import annotations

import pytest

from clinic.models import Role
from clinic.tests.factories import LocationFactory, staff_user
from comms.demo import demo_comms_seed
from comms.models import Conversation, Message
from comms.tests.factories import SmsPatientFactory

pytestmark = pytest.mark.django_db


def test_demo_seed_writes_reminders_a_reply_and_an_unassigned_message():
    location = LocationFactory(phone="+12015550100")
    admin = staff_user(role=Role.ADMIN, location=location)
    for n in range(3):
        SmsPatientFactory(home_location=location, phone_mobile=f"+1860555010{n}")
    assert demo_comms_seed(admin=admin, locations=[location]) == 5
    assert Message.objects.filter(direction="outbound", purpose="appointment_reminder").count() == 3
    assert Message.objects.filter(direction="inbound", patient__isnull=False).count() == 1
    assert Conversation.objects.filter(patient__isnull=True, unread_count=1).count() == 1

"""Factories for comms, on top of the patients and clinic ones."""

from __future__ import annotations

from typing import Any

import factory

from clinic.models import Location
from comms.models import (
    Channel,
    CommsSettings,
    ContactPreference,
    Conversation,
    Direction,
    Gateway,
    LocationSender,
    Message,
    MessageTemplate,
    WebhookReceipt,
)
from comms.tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from patients.tests.factories import PatientFactory

# A real, valid US mobile-style number range (555-01xx is reserved for fiction but not valid
# for phonenumbers); 201-555-01xx style numbers below validate.
PATIENT_PHONE = "+12015550123"
SENDER = "+12015550100"  # the organization's Twilio number in tests


class SmsPatientFactory(PatientFactory):
    phone_mobile = factory.Sequence(lambda n: f"+1201555{n % 10000:04d}")


class MessageTemplateFactory(factory.django.DjangoModelFactory[MessageTemplate]):
    class Meta:
        model = MessageTemplate

    organization = factory.SubFactory("clinic.tests.factories.OrganizationFactory")
    channel = Channel.SMS
    key = factory.Sequence(lambda n: f"template-{n}")
    name = factory.Sequence(lambda n: f"Template {n}")
    body = "Hi {{ patient_first_name }}, this is {{ location_name }}."


class MessageFactory(factory.django.DjangoModelFactory[Message]):
    class Meta:
        model = Message

    patient = factory.SubFactory(SmsPatientFactory)
    organization = factory.SelfAttribute("patient.organization")
    location = factory.SelfAttribute("patient.home_location")
    channel = Channel.SMS
    direction = Direction.OUTBOUND
    body = "Your equipment is ready."
    to_address = factory.SelfAttribute("patient.phone_mobile")


def comms_rows_for_tenant_walk(location: Location) -> None:
    """One row of every comms model for organization A (tests/test_tenant_isolation.py)."""
    patient = SmsPatientFactory(home_location=location, organization=location.organization)
    org = location.organization
    conversation = Conversation.objects.create(
        organization=org, location=location, patient=patient, unread_count=1
    )
    Conversation.objects.create(organization=org, location=location, phone="+12015559876")
    MessageFactory(patient=patient, conversation=conversation, dedupe_key="walk-1")
    MessageFactory(
        patient=patient,
        conversation=conversation,
        direction=Direction.INBOUND,
        status="received",
        body="Thanks, see you then",
    )
    MessageTemplateFactory(organization=org, key="walk", name="Walk template")
    ContactPreference.objects.create(
        organization=org, channel=Channel.SMS, address=patient.phone_mobile
    )
    CommsSettings.objects.create(organization=org)
    LocationSender.objects.create(organization=org, location=location, from_number="+12015550999")
    WebhookReceipt.objects.create(organization=org, key="walk:receipt")

    from comms.tests.gmail_factories import gmail_rows_for_tenant_walk

    gmail_rows_for_tenant_walk(location, patient)


def twilio_settings_for(organization: Any, **extra: Any) -> CommsSettings:
    values = {
        "sms_gateway": Gateway.TWILIO,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": SENDER,
        **extra,
    }
    row, _ = CommsSettings.objects.update_or_create(organization=organization, defaults=values)
    return row

"""Comms test fixtures: the real Celery worker fixtures, and the fake Twilio server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401
from comms.models import CommsSettings, Gateway
from comms.tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, fake_twilio_server

SENDER = "+12015550100"


@pytest.fixture
def fake_twilio(settings: Any) -> Iterator[FakeTwilio]:
    """A fake Twilio on 127.0.0.1; the real twilio client is pointed at it."""
    with fake_twilio_server(callbacks=()) as fake:
        settings.TWILIO_API_BASE_URL = fake.base_url
        yield fake


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

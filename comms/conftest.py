"""Comms test fixtures: the real Celery worker fixtures, and the fake Twilio server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401
from comms.tests.fake_twilio import FakeTwilio, fake_twilio_server


@pytest.fixture
def fake_twilio(settings: Any) -> Iterator[FakeTwilio]:
    """A fake Twilio on 127.0.0.1; the real twilio client is pointed at it."""
    with fake_twilio_server(callbacks=()) as fake:
        settings.TWILIO_API_BASE_URL = fake.base_url
        yield fake

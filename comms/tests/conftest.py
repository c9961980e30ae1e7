"""Comms test fixtures: the real Celery worker fixtures, and the fake Twilio server."""

from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401

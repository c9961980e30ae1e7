"""Fixtures of the patients tests: the real broker / Celery worker fixtures of the outbox
tests, for the document extraction sweep and the CSV export tasks."""

from clinic.tests.conftest import (  # noqa: F401
    celery_queue,
    celery_worker,
    start_celery_worker,
    unreachable_broker,
)

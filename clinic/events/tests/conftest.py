"""The clinic core's shared test fixtures this package uses (clinic/tests/conftest.py)."""

from clinic.tests.conftest import (  # noqa: F401
    celery_queue,
    celery_worker,
    start_celery_worker,
    unreachable_broker,
)

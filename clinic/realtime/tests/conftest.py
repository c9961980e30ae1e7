"""The clinic core's shared test fixtures this package uses (clinic/tests/conftest.py)."""

from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401

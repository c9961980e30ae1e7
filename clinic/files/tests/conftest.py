"""The clinic core's shared test fixtures this package uses (clinic/tests/conftest.py)."""

from clinic.tests.conftest import moto_s3_endpoint, s3_storage  # noqa: F401

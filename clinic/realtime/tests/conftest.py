"""The clinic core's shared test fixtures this package uses (clinic/tests/conftest.py); every
socket test here gets a channel layer of its own event loop."""

import pytest

from clinic.tests.conftest import celery_queue, celery_worker, fresh_channel_layer  # noqa: F401


@pytest.fixture(autouse=True)
def _own_channel_layer(fresh_channel_layer):  # noqa: F811
    return None

"""Each test gets its own channel layer instance (``clinic.tests.conftest.fresh_channel_layer``):
pytest-asyncio gives every test a new event loop, and a channels-redis layer created on an
earlier test's loop keeps asyncio locks bound to it."""

from __future__ import annotations

import pytest

from clinic.tests.conftest import fresh_channel_layer  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_channel_layer(fresh_channel_layer):  # noqa: F811
    return None

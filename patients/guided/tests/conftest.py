"""Each test gets its own channel layer instance: pytest-asyncio gives every test a new event
loop, and a channels-redis layer created on an earlier test's loop keeps asyncio locks bound to
it ("Lock ... is bound to a different event loop" in a later test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels.layers import channel_layers


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()

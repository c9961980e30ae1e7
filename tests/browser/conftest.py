"""Browser tests: a real ASGI server (HTTP + WebSockets) on the test database, a real Celery
worker, and the system Chromium driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

# The real Celery worker fixtures live with the outbox tests; browser tests use them too.
from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if shutil.which("chromium") is None:
        skip = pytest.mark.skip(reason="Chromium is not installed (apt-get install chromium)")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


def _use_database(name: str) -> None:
    """In the server process: talk to the test database this test process is using."""
    from django.conf import settings
    from django.db import connections

    settings.DATABASES["default"]["NAME"] = name
    # The forked server must not use the connection pool it inherited: its connections are the
    # test process's own sockets (both would read each other's replies and hang). Set it aside,
    # unused and unclosed (closing, or letting it be collected, would end the test process's
    # sessions); the server makes its own pool on first use.
    for conn in connections.all():
        pools = getattr(type(conn), "_connection_pools", None)
        if pools:
            _INHERITED_POOLS.append(dict(pools))
            pools.clear()


_INHERITED_POOLS: list[dict[str, Any]] = []


@pytest.fixture
def live_asgi(transactional_db: None) -> Iterator[str]:
    """The project's ASGI application served by daphne in a child process on the test database."""
    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connection

    process = DaphneProcess(
        "127.0.0.1",
        partial(make_application, static_wrapper=ASGIStaticFilesHandler),
        setup=partial(_use_database, connection.settings_dict["NAME"]),
    )
    process.start()
    if not process.ready.wait(timeout=20):
        process.terminate()
        raise RuntimeError("the test server did not start")
    yield f"http://127.0.0.1:{process.port.value}"
    process.terminate()
    process.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def signed_in_context(browser: Any, base: str, user: Any, **options: Any) -> Any:
    """A browser context whose session cookie belongs to ``user``, signed in with password and
    TOTP the way the sign-in tests do (``options``: Playwright's context options)."""
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.test import Client

    from conftest import sign_in

    session_key = sign_in(Client(), user).session.session_key
    context = browser.new_context(**options)
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session_key, "path": "/"}
    context.add_cookies([{**cookie, "domain": urlsplit(base).hostname}])
    return context

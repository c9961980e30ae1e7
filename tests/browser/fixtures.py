"""Browser test fixtures, loaded for the whole suite as a plugin (root conftest.py,
``pytest_plugins``), so every app's browser tests share them: a real ASGI server (HTTP +
WebSockets) on the test database, and the system Chromium driven by Playwright.

Both start once per test process (each xdist worker has its own), not once per test:

- ``browser``: one Playwright driver and one Chromium per process. Each test gets it with no
  context open and every context it opened is closed after it (before the table flush).
  Between browser tests the Playwright event loop is parked (not marked running in this
  thread), so the async and ORM tests the same worker runs next see no running loop.
- ``live_asgi``: daphne forked from this process serves the project's ASGI app on the test
  database. A forked server sees the settings and monkeypatched attributes of the moment it
  was forked, so one is kept per such state: a test that changed neither (most) reuses the
  shared server; a test that overrode a setting or patched an attribute before asking for the
  server gets a server forked with them (reused by the next test with the same state).

Without Chromium the browser tests skip with the reason, except under CI (``CI`` set), where
they fail: a CI run must not pass without them (.ci/run installs Chromium).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

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
SERVER_START_TIMEOUT = 30  # seconds; only keeps a broken start from hanging


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def chromium_missing_reason() -> str | None:
    if os.path.exists(CHROMIUM):
        return None
    return "Chromium is not installed (apt-get install chromium; .ci/run does it)"


# ---------------------------------------------------------------- Chromium


class _Chromium:
    """One Playwright driver + Chromium for this process, its event loop parked between tests."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.loop = self.playwright._loop
        try:
            self.browser = self.playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except BaseException:
            self.playwright.stop()
            raise
        finally:
            self.park()

    def park(self) -> None:
        asyncio.events._set_running_loop(None)

    def unpark(self) -> None:
        asyncio.events._set_running_loop(self.loop)

    def close(self) -> None:
        self.unpark()
        try:
            self.browser.close()
        finally:
            self.playwright.stop()
            self.park()


@pytest.fixture(scope="session")
def _chromium() -> Iterator[_Chromium]:
    reason = chromium_missing_reason()
    if reason:
        if in_ci():
            pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
        pytest.skip(reason)
    chromium = _Chromium()
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def browser(_chromium: _Chromium, transactional_db: None) -> Iterator[Any]:
    """This process's Chromium (Playwright ``Browser``); contexts the test opens are closed
    after it, before the test database is flushed."""
    _chromium.unpark()
    instance = _chromium.browser
    try:
        yield instance
    finally:
        try:
            for context in list(instance.contexts):
                context.close()
            _servers_drain()
        finally:
            _chromium.park()


# Live servers the current test used: after its pages close, a socket handshake they sent may
# still be in the server (a refused one writes an audit row). One request through the same
# server's database thread runs after that work, so it lands before the table flush, not in
# the next test.
_servers_in_use: set[str] = set()


def _servers_drain() -> None:
    from urllib.error import HTTPError
    from urllib.request import urlopen

    while _servers_in_use:
        try:
            with urlopen(_servers_in_use.pop() + "/healthz", timeout=30) as response:  # noqa: S310
                response.read()
        except HTTPError:  # 503 "degraded" is an answer too: the request went through
            pass


# ---------------------------------------------------------------- the live ASGI server


def use_test_database(name: str) -> None:
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


def _settings_overrides() -> list[tuple[str, str]]:
    """The settings the test overrode (pytest-django's ``settings``, override_settings)."""
    from django.conf import UserSettingsHolder, settings

    layers = []
    holder = settings._wrapped
    while isinstance(holder, UserSettingsHolder):
        layers.append(holder.__dict__)
        holder = holder.default_settings
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged.update({k: v for k, v in layer.items() if k.isupper()})
    return sorted((k, repr(v)) for k, v in merged.items())


def _patched_attributes(request: pytest.FixtureRequest) -> list[tuple[str, str, str]]:
    """Attributes the test's ``monkeypatch`` has set so far, with their current values."""
    if "monkeypatch" not in request.fixturenames:
        return []
    patch = request.getfixturevalue("monkeypatch")
    found = []
    for obj, name, _old in getattr(patch, "_setattr", []):
        owner = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
        found.append((str(owner), name, repr(getattr(obj, name, None))))
    return sorted(found)


class _Server:
    def __init__(self, database: str) -> None:
        from channels.testing.live import make_application
        from daphne.testing import DaphneProcess
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        self.process = DaphneProcess(
            "127.0.0.1",
            partial(make_application, static_wrapper=ASGIStaticFilesHandler),
            setup=partial(use_test_database, database),
        )
        self.process.start()
        if not self.process.ready.wait(timeout=SERVER_START_TIMEOUT):
            self.stop()
            raise RuntimeError("the test server did not start")
        self.url = f"http://127.0.0.1:{self.process.port.value}"

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


class _Servers:
    """The shared server, and at most one forked with a test's own settings/patches."""

    def __init__(self) -> None:
        self.by_state: dict[str, _Server] = {}

    def get(self, database: str, state: str, shared: bool) -> _Server:
        server = self.by_state.get(state)
        if server is not None and not server.alive():
            del self.by_state[state]
            server = None
        if server is None:
            if not shared:
                for key, other in list(self.by_state.items()):
                    if key != self.shared_key(database):
                        other.stop()
                        del self.by_state[key]
            server = self.by_state[state] = _Server(database)
        return server

    @staticmethod
    def shared_key(database: str) -> str:
        return repr((database, [], []))

    def stop(self) -> None:
        for server in self.by_state.values():
            server.stop()
        self.by_state.clear()


@pytest.fixture(scope="session")
def _live_servers(django_db_setup: None) -> Iterator[_Servers]:
    servers = _Servers()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def live_asgi(
    transactional_db: None, _live_servers: _Servers, request: pytest.FixtureRequest
) -> str:
    """The URL of the project's ASGI application served by daphne on the test database."""
    from django.db import connection

    database = connection.settings_dict["NAME"]
    overrides = _settings_overrides()
    patched = _patched_attributes(request)
    state = repr((database, overrides, patched))
    server = _live_servers.get(database, state, shared=not overrides and not patched)
    _servers_in_use.add(server.url)
    return server.url


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

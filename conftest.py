"""Fixtures shared by every test: real PostgreSQL and Redis, signed-in clients."""

from __future__ import annotations

import os
import time

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from clinic.auth.sessions import SESSION_AUTH_AT, SESSION_LAST_SEEN
from clinic.models import Role
from clinic.tests.factories import LocationFactory, staff_user, totp_device

# Chromium and the live ASGI server for every app's browser tests (started once per process).
pytest_plugins = ["tests.browser.fixtures"]


def _fresh_asgiref_executor() -> None:
    # A forked test server (daphne in the browser tests) inherits asgiref's one-thread executor
    # but not its thread, once any earlier test used sync_to_async (socket tests do): every
    # database call of the forked server's consumers would then wait forever.
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync

    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


os.register_at_fork(after_in_child=_fresh_asgiref_executor)


def sign_in(client: Client, user) -> Client:
    """Sign ``client`` in as ``user`` with a verified second factor, as the login flow would."""
    device = totp_device(user)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    now = int(time.time())
    session[SESSION_AUTH_AT] = now
    session[SESSION_LAST_SEEN] = now
    session.save()
    return client


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's test database, and before it is dropped, the connections the sockets'
    event loops opened (clinic.asyncdb) and the pool that worker threads took theirs from
    closed (else PostgreSQL refuses to drop a database others are connected to)."""
    from django.db import connections

    from clinic.asyncdb import close_all

    yield
    close_all()
    for connection in connections.all(initialized_only=True):
        connection.close()
        if connection.vendor == "postgresql":
            connection.close_pool()


@pytest.fixture
def location(db):
    return LocationFactory()


@pytest.fixture
def make_staff(db):
    def make(role: str = Role.EMPLOYEE, location=None, **kwargs):
        return staff_user(role=role, location=location, **kwargs)

    return make


@pytest.fixture
def signed_in(db):
    """signed_in(user) -> a Client signed in with password + OTP as that user."""

    def make(user) -> Client:
        return sign_in(Client(), user)

    return make


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (sessions, rate limits) in its own Redis database."""
    from django.conf import settings
    from django.core.cache import cache

    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    if prefix:
        # A parallel run (PYTEST_DB_SUFFIX) clears only its own keys, not the shared database.
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()
    yield

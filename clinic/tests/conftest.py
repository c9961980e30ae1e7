"""Fixtures for the clinic core's event, realtime and notification tests.

A real Celery worker (in a thread, solo pool) against the real Redis broker, a way to make the
broker unreachable for a moment, and session cookies for WebSocket tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from conftest import sign_in

UNREACHABLE_BROKER = "redis+socket:///nonexistent/tandem-test-broker.sock"


def _reset_producer_pools(app: Any) -> None:
    # The app caches a connection pool and a producer pool built from the broker URL it saw
    # first; drop them so the next publish connects to whatever the URL is now. (Not closed:
    # kombu keeps pools in a registry keyed by URL and would hand the closed one back later.)
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_unreachable() -> Iterator[None]:
    """Point the real Celery app at a broker that does not exist, then restore it."""
    from config.celery import app

    conf: Any = app.conf
    saved = conf.broker_url
    conf.broker_url = UNREACHABLE_BROKER
    _reset_producer_pools(app)
    try:
        yield
    finally:
        conf.broker_url = saved
        _reset_producer_pools(app)


@pytest.fixture
def unreachable_broker() -> Callable[[], Any]:
    """``with unreachable_broker(): ...`` — the broker is down inside the block."""
    return broker_unreachable


@pytest.fixture
def celery_queue() -> Iterator[str]:
    """This run's own Celery queue, emptied before the test so nothing stale is consumed."""
    from config.celery import app

    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        channel.queue_declare(queue=queue, durable=True, auto_delete=False)
        channel.queue_purge(queue)
    yield queue


def queued_messages(queue: str) -> int:
    """How many task messages wait in ``queue`` on the real broker."""
    from config.celery import app

    with app.connection_for_write() as conn:
        # Redis keeps a queue as lists (one per priority); an empty queue has no key at all.
        channel: Any = conn.default_channel
        return int(channel._size(queue))


@contextmanager
def running_celery_worker() -> Iterator[Any]:
    """A real Celery worker consuming this run's queue, in a thread of the test process.

    It uses the real broker (settings.CELERY_BROKER_URL, a private queue per
    PYTEST_DB_SUFFIX) and its own database connection, so tests that use it need
    ``django_db(transaction=True)``.
    """
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from config.celery import app

    def close_worker_connections(**kwargs: Any) -> None:
        # As `celery worker` does after each task (its Django fixup is not installed for an
        # embedded worker); otherwise the thread's connection outlives the test database.
        connections.close_all()

    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    task_postrun.connect(close_worker_connections, weak=False)
    try:
        with start_worker(
            app,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,
            loglevel="WARNING",
            shutdown_timeout=30,
            queues=[queue],
        ) as worker:
            yield worker
    finally:
        task_postrun.disconnect(close_worker_connections)


@pytest.fixture
def celery_worker(transactional_db: None, celery_queue: str) -> Iterator[Any]:
    """A real Celery worker for the whole test (see ``running_celery_worker``)."""
    with running_celery_worker() as worker:
        yield worker


@pytest.fixture
def start_celery_worker(transactional_db: None) -> Iterator[Callable[[], Any]]:
    """Start the worker part-way through a test: ``with start_celery_worker(): ...``."""
    yield running_celery_worker


def wait_until(predicate: Callable[[], Any], *, within: float = 20.0, every: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy. The bound only keeps a broken test from hanging;
    nothing asserts how long it took."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {within}s")
        time.sleep(every)


def session_cookie_headers(
    user: Any, *, origin: str = "http://testserver"
) -> list[tuple[bytes, bytes]]:
    """Headers for a WebSocket handshake from a browser signed in as ``user`` (password + OTP)."""
    client = sign_in(Client(), user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"
    return [(b"cookie", cookie.encode()), (b"origin", origin.encode())]


@pytest.fixture
def socket_headers(transactional_db: None) -> Callable[..., list[tuple[bytes, bytes]]]:
    return session_cookie_headers


# ---------------------------------------------------------------- S3 on 127.0.0.1 (moto server)


@pytest.fixture(scope="session")
def moto_s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server (moto in server mode) on a free loopback port.

    The real boto3 and django-storages code talks to it over HTTP; nothing leaves the machine.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_storage(moto_s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Any:
    """The default storage switched to django-storages' S3Storage on a fresh local bucket,
    configured as production configures it (private, presigned for 5 minutes, SSE-S3)."""
    import uuid

    import boto3
    from django.core.files.storage import storages

    # Dummy credentials, and no lookups of instance metadata or the developer's AWS config.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"tandem-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "region_name": "us-east-1",
                "endpoint_url": moto_s3_endpoint,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
                "object_parameters": {"ServerSideEncryption": "AES256"},
            },
        },
    }
    storage = storages["default"]
    storage.test_client = client
    storage.test_bucket = bucket
    return storage


@pytest.fixture
def fresh_channel_layer() -> Iterator[None]:
    """A channel layer instance of this test's own: pytest-asyncio gives every test a new event
    loop, and a channels-redis layer made on an earlier test's loop keeps asyncio locks and a
    receive buffer bound to it (messages then go missing or "bound to a different event loop")."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()

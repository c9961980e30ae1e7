"""PostgreSQL from an event loop, for the few socket paths that must not leave it.

Django 5.2's ORM is synchronous: a consumer reaches it through a worker thread, and under load
the hop (and the GIL hand-over between the loop and the workers) costs more than the statement.
The hottest socket commands (a guided session's pointer moves) are one SQL statement each, so
they run here instead: psycopg's own ``AsyncConnection`` on the running loop, with the default
database's connection settings, in autocommit.

Connections are kept per event loop (a connection belongs to the loop it was opened on; uvicorn
runs one loop per process, tests one per test) in a small free list: at most ``SIZE`` per loop,
callers beyond that wait their turn. No background tasks, so a loop that ends leaves nothing
running; its connections are closed with it (``close_all`` closes them at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from django.db import connections
from psycopg.pq import TransactionStatus

SIZE = 4


class _Connections:
    def __init__(self, size: int, settings: dict[str, Any]) -> None:
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.slots = asyncio.Semaphore(size)
        self.settings = settings

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(**self.settings)
        _opened.add(conn)
        return conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self.slots:
            conn = self.idle.pop() if self.idle else await self.connect()
            try:
                yield conn
            except BaseException:
                await conn.close()  # mid-statement or mid-result: not fit to reuse
                raise
            if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
                await conn.close()
            else:
                self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.pgconn.finish()  # no await needed: the socket closes at once
        self.idle.clear()


class PerLoop:
    """Connections to one database with fixed libpq parameters, a free list per event loop.

    ``PerLoop(options="-c synchronous_commit=off")``, made once at import; then
    ``async with it.connection() as conn`` from any loop."""

    def __init__(self, *, alias: str = "default", size: int = SIZE, **extra: Any) -> None:
        self.alias, self.size, self.extra = alias, size, extra
        self.by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connections] = (
            weakref.WeakKeyDictionary()
        )
        _all.add(self)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        pool = self.by_loop.get(loop)
        if pool is None:
            settings = connect_settings(self.alias, **self.extra)
            pool = self.by_loop[loop] = _Connections(self.size, settings)
        async with pool.connection() as conn:
            yield conn

    def close(self) -> None:
        for pool in list(self.by_loop.values()):
            pool.close()


_all: weakref.WeakSet[PerLoop] = weakref.WeakSet()
# Every connection not yet collected, whatever became of its loop (close_all finishes them).
_opened: weakref.WeakSet[psycopg.AsyncConnection[Any]] = weakref.WeakSet()


def connect_settings(alias: str = "default", **extra: Any) -> dict[str, Any]:
    """psycopg connection arguments for ``alias``: Django's own (``get_connection_params``, read
    when called: the test runner renames the database after settings load), in autocommit,
    with psycopg's cursor and adapters and with prepared statements."""
    connection = connections[alias]
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    # Django's adapters hand jsonb back as text (its JSONField decodes it); these callers read
    # jsonb columns directly, so psycopg's own adapters apply.
    params.pop("context", None)
    # Django turns server-side prepared statements off unless OPTIONS asks (for poolers); these
    # few statements repeat thousands of times and take half the time prepared, so psycopg's
    # default applies here unless OPTIONS sets prepare_threshold (None: never prepare).
    params["prepare_threshold"] = connection.settings_dict["OPTIONS"].get("prepare_threshold", 5)
    if "options" in params and "options" in extra:  # both apply
        extra = {**extra, "options": f"{params['options']} {extra['options']}"}
    params.update(autocommit=True, **extra)
    return params


_forked_away: list[Any] = []


def _after_fork_in_child() -> None:
    # A forked child (the browser tests' server) must never finish its parent's connections:
    # libpq would send the server a goodbye on the parent's socket. Keep them, unused.
    for per_loop in list(_all):
        for pool in list(per_loop.by_loop.values()):
            _forked_away.extend(pool.idle)
            pool.idle = []
        per_loop.by_loop.clear()
    _forked_away.extend(_opened)
    _opened.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def close_all() -> None:
    """Close every idle connection of every loop (tests, before their database is dropped)."""
    for per_loop in list(_all):
        per_loop.close()
    for conn in list(_opened):
        if not conn.closed:
            conn.pgconn.finish()

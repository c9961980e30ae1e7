"""Signing out or changing the password ends the user's open guided staff consoles too.

The guided consoles listen on a channel layer of their own (``guided``), so the session check
that sign-out and a password change send must reach every layer, not only the default one.
Real ASGI app, real Redis layers and PostgreSQL (the consumers' queries run in other threads).
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse

from clinic.auth.services import password_change
from clinic.tests.factories import DEFAULT_PASSWORD
from config.asgi import application
from conftest import sign_in
from patients.guided.tests.factories import paired_session

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30  # seconds; only keeps a broken test from hanging
SESSION_ENDED = 4401


async def open_console(session: Any, client: Client) -> WebsocketCommunicator:
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"
    headers = [(b"cookie", cookie.encode()), (b"origin", b"http://testserver")]
    socket = WebsocketCommunicator(application, f"/ws/guided/{session.public_id}/", headers=headers)
    connected, code = await socket.connect(timeout=WAIT)
    assert connected, f"refused with {code}"
    snapshot = await socket.receive_json_from(timeout=WAIT)
    assert snapshot["type"] == "SNAPSHOT" and snapshot["role"] == "staff"
    return socket


async def close_code(socket: WebsocketCommunicator) -> int:
    """The code the console closes with, skipping the messages it sends before that."""
    while True:
        output = await socket.receive_output(timeout=WAIT)
        if output["type"] == "websocket.close":
            return int(output["code"])


async def signed_in_console() -> tuple[Any, Client, WebsocketCommunicator]:
    session, _raw, staff = await database_sync_to_async(paired_session)()
    client = await database_sync_to_async(sign_in)(Client(), staff)
    return staff, client, await open_console(session, client)


async def test_signing_out_closes_the_open_guided_console():
    _staff, client, socket = await signed_in_console()

    response = await database_sync_to_async(client.post)(reverse("clinic:logout"))
    assert response.status_code == 302

    assert await close_code(socket) == SESSION_ENDED


async def test_changing_the_password_closes_the_open_guided_console():
    staff, _client, socket = await signed_in_console()

    await database_sync_to_async(password_change)(
        actor=staff, current_password=DEFAULT_PASSWORD, new_password="a brand new passphrase 2024"
    )

    assert await close_code(socket) == SESSION_ENDED

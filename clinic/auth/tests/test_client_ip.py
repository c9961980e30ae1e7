"""Who the client is: one function (clinic.client_ip) that trusts exactly PROXY_COUNT hops of
X-Forwarded-For, used by the lockout and the audit log, and an ASGI server that does not trust
the header on its own. The end-to-end tests run the web process exactly as the Procfile
starts it (real uvicorn, its flags read from the Procfile) against the test database."""

from __future__ import annotations

import multiprocessing
import re
import shlex
import socket
import time
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener

import pytest
from django.conf import settings
from django.db import connection

from clinic.client_ip import client_ip_from, client_ip_of_scope
from clinic.models import AuditEvent
from clinic.tests.factories import DEFAULT_PASSWORD, totp_device
from tests.browser.fixtures import use_test_database

PROCFILE = Path(settings.BASE_DIR) / "Procfile"
START_TIMEOUT = 30  # seconds; only keeps a broken start from hanging


# ---------------------------------------------------------------- the function


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "198.51.100.1", "203.0.113.5"),  # no proxy: the header is ignored
        (1, "10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the proxy's own entry
        (2, "10.0.0.3", "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (2, "10.0.0.3", "198.51.100.1", "10.0.0.3"),  # fewer hops than proxies: the peer
        (1, "10.0.0.2", "not-an-ip", "10.0.0.2"),  # garbage never becomes an address
        (1, "10.0.0.2", "", "10.0.0.2"),
        (0, "", "", None),
    ],
)
def test_client_ip_trusts_exactly_proxy_count_hops(settings, proxies, peer, forwarded, expected):
    settings.PROXY_COUNT = proxies
    assert client_ip_from(peer, forwarded) == expected


def test_sockets_read_the_same_way(settings):
    scope = {"client": ["10.0.0.2", 5123], "headers": [(b"x-forwarded-for", b"6.6.6.6")]}
    settings.PROXY_COUNT = 0
    assert client_ip_of_scope(scope) == "10.0.0.2"
    settings.PROXY_COUNT = 1
    assert client_ip_of_scope(scope) == "6.6.6.6"
    assert client_ip_of_scope({"headers": []}) is None


def test_axes_and_the_audit_log_use_the_one_function():
    assert settings.AXES_CLIENT_IP_CALLABLE == "clinic.client_ip.client_ip"


# ---------------------------------------------------------------- the real web process


def _procfile_web_argv(port: int) -> list[str]:
    """The Procfile's web line as uvicorn's command-line arguments, on ``port``."""
    [line] = [ln for ln in PROCFILE.read_text().splitlines() if ln.startswith("web:")]
    line = re.sub(
        r"\$\{(\w+):-([^}]*)\}",
        lambda m: {"TANDEM_PORT": str(port), "TANDEM_HOST": "127.0.0.1"}.get(m[1], m[2]),
        line.removeprefix("web:"),
    )
    program, *argv = shlex.split(line)
    assert program.endswith("uvicorn")
    return argv


def _serve(database: str, argv: list[str]) -> None:
    # import here: only the forked server process runs uvicorn's command line.
    from uvicorn.main import main

    use_test_database(database)
    main.main(args=argv, standalone_mode=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def procfile_web(transactional_db: None) -> Iterator[Callable[[], str]]:
    """start() -> the URL of the web process started as the Procfile starts it, forked with the
    settings of that moment (override them first)."""
    processes: list[Any] = []

    def start() -> str:
        port = _free_port()
        process = multiprocessing.get_context("fork").Process(
            target=_serve, args=(connection.settings_dict["NAME"], _procfile_web_argv(port))
        )
        process.start()
        processes.append(process)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return f"http://127.0.0.1:{port}"
            except OSError:
                if time.monotonic() > deadline or not process.is_alive():
                    raise RuntimeError("the web process did not start") from None
                time.sleep(0.05)  # polling for the port to open

    yield start
    for process in processes:
        process.terminate()
        process.join(timeout=10)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping HTTP client that posts the login form with its CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), _NoRedirect)

    def request(self, path: str, data: dict | None = None, **headers: str) -> tuple[int, str]:
        body = urlencode(data).encode() if data is not None else None
        req = Request(self.base + path, data=body, headers=headers)  # noqa: S310 (http://127.0.0.1)
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.read().decode()
        except HTTPError as exc:
            return exc.code, exc.read().decode()
        except URLError as exc:  # pragma: no cover - only a broken server
            raise AssertionError(f"the web process did not answer: {exc}") from exc

    def login(self, email: str, password: str, forwarded_for: str) -> int:
        _, page = self.request("/login")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, "the login page has a CSRF token"
        status, _ = self.request(
            "/login",
            {"csrfmiddlewaretoken": token[1], "email": email, "password": password},
            **{"X-Forwarded-For": forwarded_for},
        )
        return status


def test_a_spoofed_forwarded_for_neither_lifts_the_lockout_nor_reaches_the_audit_log(
    procfile_web, make_staff
):
    alice = make_staff()
    totp_device(alice)
    browser = Browser(procfile_web())
    statuses = [
        browser.login(alice.email, "wrong password", forwarded_for=f"203.0.113.{n}")
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    # The fifth failure locks (alice, this client) although every attempt named a new address.
    assert statuses == [400] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    # And a fresh spoofed address with the right password does not get in either.
    assert browser.login(alice.email, DEFAULT_PASSWORD, forwarded_for="198.51.100.77") == 429
    ips = set(AuditEvent.objects.filter(actor=alice).values_list("ip", flat=True))
    assert ips == {"127.0.0.1"}


def test_behind_one_proxy_the_address_it_appended_is_the_client(procfile_web, settings, make_staff):
    # Set before the server forks, so it runs with one trusted proxy.
    settings.PROXY_COUNT = 1
    alice = make_staff()
    browser = Browser(procfile_web())
    # The client wrote "6.6.6.6"; our proxy appended the address it saw.
    assert browser.login(alice.email, "wrong", forwarded_for="6.6.6.6, 198.51.100.9") == 400
    [row] = AuditEvent.objects.filter(actor=alice, action="auth.login_failed")
    assert row.ip == "198.51.100.9"


def test_the_readme_deploy_line_runs_uvicorn_without_its_own_proxy_trust():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    [line] = [ln for ln in readme.splitlines() if ln.startswith("uvicorn ")]
    assert "--no-proxy-headers" in line.split()
    assert "--proxy-headers" not in line.split()

"""The client's IP address: one function for HTTP requests and sockets, used by the sign-in
lockout (django-axes' ``AXES_CLIENT_IP_CALLABLE``), the per-account sign-in limit and every
audit row.

The connection's own peer address is the truth unless ``PROXY_COUNT`` says that many reverse
proxies of ours stand in front; then the client is the address the outermost of them wrote
into ``X-Forwarded-For`` (counted from the right: each proxy appends who connected to it, and
anything to the left of that was written by the client and can say anything). The ASGI server
must not rewrite the peer address from that header itself (the Procfile and the README run
uvicorn with ``--no-proxy-headers``), or a client could choose its own address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest


def client_ip_from(peer: str | None, forwarded_for: str) -> str | None:
    """The client's address, given the connection's peer and its X-Forwarded-For value."""
    proxies = int(getattr(settings, "PROXY_COUNT", 0) or 0)
    if proxies > 0 and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if len(hops) >= proxies:
            candidate = _valid(hops[-proxies])
            if candidate:
                return candidate
    return _valid(peer or "")


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client that sent ``request`` (AXES_CLIENT_IP_CALLABLE)."""
    return client_ip_from(
        request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR", "")
    )


def client_ip_of_scope(scope: dict[str, Any]) -> str | None:
    """The address of the client that opened an ASGI connection (a WebSocket)."""
    client = scope.get("client") or [None]
    forwarded = b",".join(
        value for name, value in scope.get("headers") or [] if name.lower() == b"x-forwarded-for"
    )
    return client_ip_from(client[0], forwarded.decode("latin1"))


def _valid(text: str) -> str | None:
    """``text`` if it is an IP address (a port or brackets are not), else None."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None

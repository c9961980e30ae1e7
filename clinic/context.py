"""Per-request facts (request id, IP, user agent) that audit rows and events pick up.

Set by ``RequestIdMiddleware`` for HTTP and by the realtime stack for sockets; held in a
ContextVar so it is right under both sync and async code.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""


_EMPTY = RequestContext()
# A frozen dataclass, so sharing the default instance is safe.
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "tandem_request_context",
    default=_EMPTY,
)


def current() -> RequestContext:
    return _current.get()


def activate(ctx: RequestContext) -> contextvars.Token[RequestContext]:
    return _current.set(ctx)


def reset(token: contextvars.Token[RequestContext]) -> None:
    _current.reset(token)

"""Change-history plumbing: every tracked change (django-pghistory) says who made it.

Models opt in with ``@pghistory.track()``; their database triggers copy each changed row into an
event table and attach the current *context*. This module fills that context with ids only
(acting user, request id, origin), never the URL or anything typed by a person, so the history
tables cannot leak PHI through their metadata. ``clinic.audit.selectors.history_for`` reads it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pghistory
from pghistory.middleware import HistoryMiddleware

from clinic import context

if TYPE_CHECKING:
    from django.http import HttpRequest

    from clinic.models import User

# Keys of the pghistory context metadata. history_for() reads the same names.
CONTEXT_USER = "user"
CONTEXT_REQUEST_ID = "request_id"
CONTEXT_ORIGIN = "origin"


class HistoryContextMiddleware(HistoryMiddleware):
    """Attaches the signed-in user's id and the request id to changes made during a request.

    Sits after authentication. pghistory's base class also swaps the request class so that a
    later ``request.user = ...`` (sign-in) updates the context. Unlike the base class it never
    records ``request.path``: a path or query string could carry PHI.
    """

    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
        return {
            CONTEXT_USER: user_id,
            CONTEXT_REQUEST_ID: getattr(request, "request_id", "") or context.current().request_id,
            CONTEXT_ORIGIN: "web",
        }


@contextmanager
def history_context(*, actor: User | None, origin: str) -> Iterator[None]:
    """Attribute tracked changes made outside an HTTP request (Celery task, socket consumer,
    management command) to ``actor``. ``origin`` is a short code such as ``"task"``.

    Nested inside a request's context it updates that context (same context row) rather than
    opening a second one.
    """
    with pghistory.context(
        **{
            CONTEXT_USER: actor.pk if actor is not None else None,
            CONTEXT_REQUEST_ID: context.current().request_id,
            CONTEXT_ORIGIN: origin,
        }
    ):
        yield

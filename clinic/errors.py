"""Domain errors. Services raise these; views, the API and consumers translate them."""

from __future__ import annotations


class ApplicationError(Exception):
    """A refusal a person can understand: ``code`` for machines, ``message`` for people."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}


class NotFound(ApplicationError):
    """Also used for "not yours": the two must look the same from outside."""

    code = "not_found"
    status = 404


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403


class Conflict(ApplicationError):
    code = "conflict"
    status = 409

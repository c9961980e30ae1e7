"""A service refusal that a view forgot to translate still reaches the person as its own plain
message and status, never as a 500 (clinic.middleware.ApplicationErrorMiddleware)."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import path

from clinic.errors import ApplicationError, Conflict, NotFound


def _conflict(request: HttpRequest) -> HttpResponse:
    raise Conflict("Someone else saved this appointment a moment ago.")


def _missing(request: HttpRequest) -> HttpResponse:
    raise NotFound("That record does not exist or is not available to you.")


def _plain(request: HttpRequest) -> HttpResponse:
    raise ApplicationError("The end time must be after the start time.")


def _bug(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a real bug")


urlpatterns = [
    path("refuse/conflict/", _conflict),
    path("refuse/missing/", _missing),
    path("refuse/plain/", _plain),
    path("api/refuse/conflict/", _conflict),
    path("refuse/bug/", _bug),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/refuse/conflict/", 409, "Someone else saved this appointment"),
        ("/refuse/missing/", 404, "does not exist or is not available"),
        ("/refuse/plain/", 400, "end time must be after the start time"),
    ],
)
def test_an_untranslated_refusal_is_a_page_with_its_message(client, url, status, words):
    response = client.get(url)
    assert response.status_code == status
    assert words in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_an_untranslated_refusal_in_the_api_is_json(client):
    response = client.get("/api/refuse/conflict/")
    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "conflict",
            "message": "Someone else saved this appointment a moment ago.",
        }
    }


def test_other_exceptions_are_not_swallowed(client):
    client.raise_request_exception = True
    with pytest.raises(RuntimeError):
        client.get("/refuse/bug/")

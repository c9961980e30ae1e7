from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, object]:
    return {
        "IDLE_TIMEOUT_SECONDS": settings.IDLE_TIMEOUT_SECONDS,
        "IDLE_WARNING_SECONDS": settings.IDLE_WARNING_SECONDS,
    }

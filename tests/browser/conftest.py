"""Browser tests: their fixtures (Chromium, the live ASGI server) are in tests/browser/fixtures.py,
loaded for the whole suite from the root conftest so every app's browser tests share them."""

# The real Celery worker fixtures live with the outbox tests; browser tests use them too.
from clinic.tests.conftest import celery_queue, celery_worker  # noqa: F401

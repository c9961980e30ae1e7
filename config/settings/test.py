"""Tests: the same real PostgreSQL and Redis as development, fast password hashing."""
# ruff: noqa: F405

from . import _embedded  # noqa: F401
from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-not-secret-" + "y" * 40
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = ["http://testserver", "http://127.0.0.1", "http://localhost"]
REALTIME_ALLOWED_ORIGINS = ["http://testserver", "http://127.0.0.1", "http://localhost"]
# Argon2 stays first in base settings (and a test checks it); tests hash with MD5 for speed.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# TEST ONLY: published keys (the first decodes to "tandem-test-only-field-key-00001").
FIELD_ENCRYPTION_KEYS = ["dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDE="]
FIELD_HASH_KEY = "test-only-field-hash-key-not-secret-" + "h" * 16
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
# Tests use their own Redis databases so a running `make run` is never disturbed.
CACHES["default"]["LOCATION"] = redis_db_url(REDIS_URL, 3)
for _layer in CHANNEL_LAYERS.values():
    _layer["CONFIG"]["hosts"] = [channel_layer_host(redis_db_url(REDIS_URL, 4))]
CELERY_BROKER_URL = celery_url(redis_db_url(REDIS_URL, 5))
CELERY_BEAT_SCHEDULE = {}
LOGGING["root"]["level"] = "WARNING"

# Parallel test runs on one machine (several checkouts, and pytest-xdist's workers within a
# run) keep apart: their own test database, cache prefix, channel prefix and Celery queue.
# PYTEST_DB_SUFFIX names a checkout's run; PYTEST_XDIST_WORKER ("gw0", "gw1"...) is set by
# pytest-xdist in each worker process.
RUN_SUFFIX = env("PYTEST_DB_SUFFIX", default="")
XDIST_WORKER = env("PYTEST_XDIST_WORKER", default="")
TEST_RUN_SUFFIX = "_".join(part for part in (RUN_SUFFIX, XDIST_WORKER) if part)
# Named explicitly: forked test servers look the name up (channels' live server helpers).
# Without the worker: pytest-django itself appends "_gw0"... to it in each xdist worker.
DATABASES["default"]["TEST"] = {
    "NAME": f"test_tandem_{RUN_SUFFIX}" if RUN_SUFFIX else "test_tandem"
}
if TEST_RUN_SUFFIX:
    CACHES["default"]["KEY_PREFIX"] = TEST_RUN_SUFFIX
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"asgi{TEST_RUN_SUFFIX}"
    CHANNEL_LAYERS["guided"]["CONFIG"]["prefix"] = f"guided{TEST_RUN_SUFFIX}"
    CELERY_TASK_DEFAULT_QUEUE = f"celery{TEST_RUN_SUFFIX}"
    MEDIA_ROOT = MEDIA_ROOT / TEST_RUN_SUFFIX

# Serve static files straight from the finders; no collectstatic needed outside production.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

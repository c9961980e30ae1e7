"""Tests: the same real PostgreSQL and Redis as development, fast password hashing."""

from . import _embedded  # noqa: F401
from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-not-secret-" + "y" * 40  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = ["http://testserver", "http://127.0.0.1", "http://localhost"]
REALTIME_ALLOWED_ORIGINS = ["http://testserver", "http://127.0.0.1", "http://localhost"]
# Argon2 stays first in base settings (and a test checks it); tests hash with MD5 for speed.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
# Tests use their own Redis databases so a running `make run` is never disturbed.
CACHES["default"]["LOCATION"] = redis_db_url(REDIS_URL, 3)  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [redis_db_url(REDIS_URL, 4)]  # noqa: F405
CELERY_BROKER_URL = celery_url(redis_db_url(REDIS_URL, 5))  # noqa: F405
CELERY_BEAT_SCHEDULE = {}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

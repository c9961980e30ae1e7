"""Development: embedded services, debug on, insecure-but-local defaults."""

from clinic.crypto import validate_key_settings

from . import _embedded  # noqa: F401  (must run before base reads the environment)
from .base import *  # noqa: F403
from .base import STATIC_ROOT, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-not-secret-" + "x" * 40)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=["http://127.0.0.1:8000", "http://localhost:8000"]
)
REALTIME_ALLOWED_ORIGINS = env.list("REALTIME_ALLOWED_ORIGINS", default=CSRF_TRUSTED_ORIGINS)
# DEVELOPMENT ONLY: published keys (the first decodes to "tandem-development-only-key-0001");
# anything they encrypt is readable by anyone with this repository.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["dGFuZGVtLWRldmVsb3BtZW50LW9ubHkta2V5LTAwMDE="]
)
FIELD_HASH_KEY = env("FIELD_HASH_KEY", default="dev-only-field-hash-key-not-secret-" + "h" * 16)
validate_key_settings(FIELD_ENCRYPTION_KEYS, FIELD_HASH_KEY)
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}

# Serve static files straight from the finders; no collectstatic needed outside production.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

"""Settings shared by every environment. Everything that differs comes from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from csp.constants import NONCE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # trigram lookups for typo-tolerant patient search
    "channels",
    "rest_framework",
    "drf_spectacular",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "pgtrigger",
    "pghistory",
    "clinic",
    "patients",
    "patients.guided",
    "scheduling",
    "equipment",
    "billing",
    "comms",
    "telehealth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "clinic.middleware.RequestIdMiddleware",
    "clinic.middleware.RejectNullBytesMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Wraps everything below: even an expiry redirect or an error page is not stored.
    "clinic.middleware.NoStoreMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "clinic.audit.history.HistoryContextMiddleware",
    "clinic.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "clinic.middleware.ApplicationErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.context_processors.portal",
                "clinic.portal.views.navigation",
            ],
        },
    },
]

# ---------------------------------------------------------------- data stores
DATABASES = {"default": env.db("DATABASE_URL", default="postgres:///tandem")}
# libpq's "?host=/socket/dir" form arrives as an option; Django wants it as HOST.
if not DATABASES["default"].get("HOST") and "host" in DATABASES["default"].get("OPTIONS", {}):
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")
# Connections come from psycopg's pool (Django's "pool" option). Under ASGI every request runs
# on a thread of its own and the sockets' database work on a thread pool: persistent
# per-thread connections would pile up, and a new connection per call costs a PostgreSQL
# backend start each time. DB_POOL=0 falls back to a connection per request.
if env.bool("DB_POOL", default=True):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=1),
        "max_size": env.int("DB_POOL_MAX", default=20),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL: str = env("REDIS_URL", default="redis://127.0.0.1:6379/0")


def redis_db_url(url: str, db: int) -> str:
    """The same Redis server, another logical database (cache, channels and broker stay apart)."""
    if url.startswith("unix://"):
        base = url.split("?", 1)[0]
        return f"{base}?db={db}"
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    return f"{base}/{db}"


CACHES: dict[str, Any] = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_db_url(REDIS_URL, 0),
    }
}


def channel_layer_host(url: str) -> dict[str, Any]:
    """channels_redis waits for messages with a 5 s blocking pop; redis-py's default 5 s socket
    timeout would cut that read off and kill every idle socket, so reads may take longer."""
    return {"address": url, "socket_timeout": 15, "socket_connect_timeout": 5}


CHANNEL_LAYERS: dict[str, Any] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [channel_layer_host(redis_db_url(REDIS_URL, 1))],
            "capacity": 1000,
            "expiry": 30,
        },
    },
    # Guided sessions: Redis PUBLISH/SUBSCRIBE, one subscription per process. With 50 paired
    # sessions the core layer (a list per channel, blocking pops) fell seconds behind and ran out
    # of Redis connections (docs/benchmarks.md, "Guided sessions"); their events are versioned
    # and a socket that misses one refetches a snapshot, so its buffering is not needed.
    "guided": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [channel_layer_host(redis_db_url(REDIS_URL, 1))], "prefix": "guided"},
    },
}


def celery_url(url: str) -> str:
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=celery_url(redis_db_url(REDIS_URL, 2)))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Fail fast when the broker is down at commit time: the outbox sweep re-sends later.
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 0, "socket_connect_timeout": 2}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "clinic.events.tasks.outbox_sweep", "schedule": 15.0},
    "authorizations-warn-expiring": {
        "task": "patients.authorizations_warn_expiring_task",
        "schedule": crontab(hour=7, minute=0),
    },
    "documents-extractions-resume": {
        "task": "patients.document_extractions_resume",
        "schedule": 300.0,
    },
    "comms-messages-sweep": {"task": "comms.tasks.messages_sweep", "schedule": 120.0},
    # Gmail: incremental sync of every connected mailbox (and push watches renewed).
    "comms-gmail-sync": {"task": "comms.gmail_sync_all", "schedule": 120.0},
    "scheduling-reminders": {"task": "scheduling.reminders_send_due", "schedule": 60.0},
    "scheduling-waitlist-expire": {"task": "scheduling.waitlist_offers_expire", "schedule": 60.0},
    "scheduling-series-extend": {
        "task": "scheduling.series_extend_due",
        "schedule": crontab(hour=3, minute=30),
    },
    "guided-sessions-expire": {"task": "patients.guided.guided_sessions_expire", "schedule": 60.0},
}

# ---------------------------------------------------------------- encryption at rest
# Fernet keys, newest first, and a separate secret for lookup hashes (docs/encryption.md).
# Local and test settings supply development-only keys; production requires both.
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])
FIELD_HASH_KEY: str = env("FIELD_HASH_KEY", default="")

# ---------------------------------------------------------------- auth
AUTH_USER_MODEL = "clinic.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "clinic:login"
LOGIN_REDIRECT_URL = "clinic:dashboard"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ["email", "full_name"]},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Lockout keyed by (username, IP): a clinic's shared IP does not lock out colleagues,
# and a stranger guessing from elsewhere does not lock out the real user.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "email"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "clinic.auth.views.lockout_response"
# Reverse proxies of ours in front of the web process (0: none, X-Forwarded-For is ignored).
# The one place that reads it is clinic.client_ip; uvicorn runs with --no-proxy-headers so it
# does not rewrite the client address from that header on its own.
PROXY_COUNT = env.int("PROXY_COUNT", default=0)
# axes, the per-account limit and the audit log agree on who the client is.
AXES_CLIENT_IP_CALLABLE = "clinic.client_ip.client_ip"
AXES_VERBOSE = False
# Per account across every address (clinic.auth.throttle): this many wrong passwords for one
# email within SIGN_IN_ACCOUNT_WINDOW_MINUTES, and attempts for it wait 30 s, then after each
# further wrong one 60 s, 120 s ... up to SIGN_IN_ACCOUNT_MAX_WAIT_SECONDS (never a lock).
SIGN_IN_ACCOUNT_FREE_FAILURES = env.int("SIGN_IN_ACCOUNT_FREE_FAILURES", default=10)
SIGN_IN_ACCOUNT_WINDOW_MINUTES = env.int("SIGN_IN_ACCOUNT_WINDOW_MINUTES", default=15)
SIGN_IN_ACCOUNT_MAX_WAIT_SECONDS = env.int("SIGN_IN_ACCOUNT_MAX_WAIT_SECONDS", default=300)
# The account page's current-password check: this many wrong guesses, then 1 minute, 2, 4 ...
CURRENT_PASSWORD_FREE_FAILURES = env.int("CURRENT_PASSWORD_FREE_FAILURES", default=5)

OTP_TOTP_ISSUER = env("OTP_ISSUER", default="Tandem")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# Sessions: server-side (cache + database), idle timeout and an absolute lifetime.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
IDLE_TIMEOUT_SECONDS = env.int("IDLE_TIMEOUT_SECONDS", default=15 * 60)
IDLE_WARNING_SECONDS = env.int("IDLE_WARNING_SECONDS", default=30)
SESSION_ABSOLUTE_SECONDS = env.int("SESSION_ABSOLUTE_SECONDS", default=12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "clinic.portal.errors.csrf_failure"

# ---------------------------------------------------------------- security headers
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # A per-request nonce, sent only on pages that use it (the calendar: FullCalendar 6
        # injects its own stylesheet and reads the nonce from <meta name="csp-nonce">).
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'", "ws:", "wss:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# ---------------------------------------------------------------- i18n, static, media
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static" / "dist"]
MEDIA_ROOT = BASE_DIR / "var" / "media"
# Uploaded files are never served by URL: no MEDIA_URL route exists, they leave only through
# signed /files/<token> links (clinic.files.services). Kept readable by the app's own user only.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
FILE_UPLOAD_MAX_BYTES = env.int("FILE_UPLOAD_MAX_BYTES", default=25 * 1024 * 1024)
FILE_DOWNLOAD_LINK_TTL = env.int("FILE_DOWNLOAD_LINK_TTL", default=300)
STORAGES: dict[str, Any] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# ---------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["clinic.permissions.IsVerifiedStaff"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tandem API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["clinic.permissions.IsVerifiedStaff"],
}

# ---------------------------------------------------------------- comms (Twilio)
# The public https origin Twilio calls back (status callbacks); empty: no status callbacks.
COMMS_PUBLIC_BASE_URL: str = env("COMMS_PUBLIC_BASE_URL", default="")
# Tests and benchmarks only: send the twilio client to a local fake instead of api.twilio.com.
TWILIO_API_BASE_URL: str = env("TWILIO_API_BASE_URL", default="")

# ---------------------------------------------------------------- logging (never PHI)
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

REALTIME_ALLOWED_ORIGINS: list[str] = env.list("REALTIME_ALLOWED_ORIGINS", default=[])

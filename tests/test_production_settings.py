"""Production settings: nothing insecure by default, and Django's deploy checks are clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    required = {"SECRET_KEY", "ALLOWED_HOSTS", "FIELD_ENCRYPTION_KEYS", "FIELD_HASH_KEY"}
    clean = {k: v for k, v in os.environ.items() if k not in required}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings.production")
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


PROD_ENV = {
    "SECRET_KEY": "k" * 20 + "-Zq9#xv!Lm2@Rt7$Wp4^Hs8&Jd3*Nf6(",
    "ALLOWED_HOSTS": "tandem.example.com",
    "DATABASE_URL": "postgres://tandem@db.invalid/tandem",
    "REDIS_URL": "redis://redis.invalid:6379/0",
    "FIELD_ENCRYPTION_KEYS": "cHJvZHVjdGlvbi1zZXR0aW5ncy10ZXN0LWtleS0wMDE=",
    "FIELD_HASH_KEY": "production-settings-test-hash-key-" + "q" * 16,
}


def test_deploy_check_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    env = {k: v for k, v in PROD_ENV.items() if k != "ALLOWED_HOSTS"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_cookies_and_headers_are_strict():
    env = dict(os.environ, **PROD_ENV, DJANGO_SETTINGS_MODULE="config.settings.production")
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE,"
        " s.SESSION_COOKIE_SAMESITE, s.SECURE_HSTS_SECONDS > 0, s.DEBUG,"
        " 'default-src' in s.CONTENT_SECURITY_POLICY['DIRECTIVES'])"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "True", "True", "Lax", "True", "False", "True"]


def test_responses_carry_a_content_security_policy(client, db):
    response = client.get("/healthz")
    policy = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy

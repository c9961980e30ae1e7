"""Production refuses to start without usable encryption keys, and says which setting is wrong."""

from __future__ import annotations

import pytest

from tests.test_production_settings import PROD_ENV, _manage


@pytest.mark.parametrize("missing", ["FIELD_ENCRYPTION_KEYS", "FIELD_HASH_KEY"])
def test_production_refuses_to_start_without_an_encryption_setting(missing):
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr
    assert "ImproperlyConfigured" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"FIELD_ENCRYPTION_KEYS": "secret-but-malformed"}, "entry 1 of 1 is not a Fernet key"),
        (
            {"FIELD_ENCRYPTION_KEYS": PROD_ENV["FIELD_ENCRYPTION_KEYS"] + ",secret-but-malformed"},
            "entry 2 of 2 is not a Fernet key",
        ),
        ({"FIELD_HASH_KEY": "secret-but-short"}, "FIELD_HASH_KEY must be at least 32 characters"),
    ],
)
def test_production_refuses_malformed_keys_with_a_readable_message(overrides, message):
    result = _manage("check", env={**PROD_ENV, **overrides})
    assert result.returncode != 0
    assert message in result.stderr
    # The message names the setting; it never echoes the secret.
    assert "secret-but" not in result.stderr
    assert PROD_ENV["FIELD_ENCRYPTION_KEYS"] not in result.stderr


def test_production_starts_with_two_keys_during_a_rotation():
    keys = "bmV3ZXN0LWtleS1mb3ItdGhlLXJvdGF0aW9uLXRlc3Q=," + PROD_ENV["FIELD_ENCRYPTION_KEYS"]
    result = _manage("check", env={**PROD_ENV, "FIELD_ENCRYPTION_KEYS": keys})
    assert result.returncode == 0, result.stderr

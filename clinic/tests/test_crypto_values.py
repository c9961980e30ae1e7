"""clinic.crypto: values round-trip, lookup hashes match formatting variants, keys validate."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from clinic.crypto import (
    DecryptionError,
    decrypt_text,
    encrypt_text,
    is_current,
    lookup_hash,
    normalize_identifier,
    validate_key_settings,
)

HASH_KEY = "a-hash-key-that-is-long-enough-for-the-rules-" + "z" * 8


def _key() -> str:
    return Fernet.generate_key().decode()


def test_text_round_trips_through_encryption():
    for value in ["XGH123456789", "Zoë O'Brien-Łukasiewicz", "a" * 5000, " spaced "]:
        token = encrypt_text(value)
        assert token != value
        assert value not in token
        assert decrypt_text(token) == value


def test_the_same_value_encrypts_differently_each_time():
    assert encrypt_text("XGH123456789") != encrypt_text("XGH123456789")


def test_values_sealed_under_an_old_key_still_open_after_a_new_key_is_prepended(settings):
    old = _key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = encrypt_text("member-001")

    settings.FIELD_ENCRYPTION_KEYS = [_key(), old]

    assert decrypt_text(token) == "member-001"
    assert not is_current(token)
    assert is_current(encrypt_text("member-002"))


def test_a_value_no_configured_key_opens_is_refused_without_revealing_it(settings):
    settings.FIELD_ENCRYPTION_KEYS = [_key()]
    token = encrypt_text("member-001")
    settings.FIELD_ENCRYPTION_KEYS = [_key()]

    with pytest.raises(DecryptionError) as caught:
        decrypt_text(token)
    assert "member-001" not in str(caught.value)
    with pytest.raises(DecryptionError):
        decrypt_text("not a token at all")


def test_lookup_hash_is_the_same_for_formatting_variants_of_one_identifier():
    variants = [
        "ab-123 45",
        "AB12345",
        " ab 123-45 ",
        "AB.123/45",
        "\uff21\uff22\uff11\uff12\uff13\uff14\uff15",  # full-width, as some scanners send it
    ]
    hashes = {lookup_hash(v) for v in variants}
    assert len(hashes) == 1
    (digest,) = hashes
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert lookup_hash("AB12346") != digest
    assert normalize_identifier("ab-123 45") == "AB12345"


def test_lookup_hash_depends_on_the_hash_key(settings):
    first = lookup_hash("AB12345")
    settings.FIELD_HASH_KEY = HASH_KEY
    assert lookup_hash("AB12345") != first


def test_lookup_hash_does_not_depend_on_the_encryption_keys(settings):
    first = lookup_hash("AB12345")
    settings.FIELD_ENCRYPTION_KEYS = [_key(), *settings.FIELD_ENCRYPTION_KEYS]
    assert lookup_hash("AB12345") == first


def test_lookup_hash_can_skip_normalizing_and_leaves_blank_values_unhashed():
    assert lookup_hash("ab-123", normalize=None) != lookup_hash("AB123", normalize=None)
    assert lookup_hash("") == ""
    assert lookup_hash(" - ") == ""


@pytest.mark.parametrize(
    ("keys", "hash_key", "message"),
    [
        ([], HASH_KEY, "FIELD_ENCRYPTION_KEYS is empty"),
        ([""], HASH_KEY, "FIELD_ENCRYPTION_KEYS is empty"),
        (["too-short"], HASH_KEY, "entry 1 of 1 is not a Fernet key"),
        ([Fernet.generate_key().decode(), "x" * 44], HASH_KEY, "entry 2 of 2 is not a Fernet"),
        (["dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDE=" * 2], HASH_KEY, "not a Fernet key"),
        (["dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDE="] * 2, HASH_KEY, "entry 2 repeats"),
        (["dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDE="], "", "FIELD_HASH_KEY must be at least"),
        (["dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDE="], "short", "at least 32 characters"),
        (
            ["dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDE="],
            "dGFuZGVtLXRlc3Qtb25seS1maWVsZC1rZXktMDAwMDE=",
            "FIELD_HASH_KEY must be a separate secret",
        ),
    ],
)
def test_unusable_key_settings_are_refused_with_a_readable_message(keys, hash_key, message):
    with pytest.raises(ImproperlyConfigured) as caught:
        validate_key_settings(keys, hash_key)
    assert message in str(caught.value)
    for key in keys:
        if key:
            assert key not in str(caught.value)


def test_a_valid_configuration_passes_and_encrypts(settings):
    keys = [_key(), _key()]
    validate_key_settings(keys, HASH_KEY)  # raises on a bad configuration
    settings.FIELD_ENCRYPTION_KEYS = keys
    settings.FIELD_HASH_KEY = HASH_KEY
    assert decrypt_text(encrypt_text("member-001")) == "member-001"


def test_encrypting_with_broken_settings_fails_loudly_instead_of_storing_plain_text(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        encrypt_text("member-001")

"""Encryption at rest for single values (member ids, national identifiers, OAuth tokens).

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under ``FIELD_ENCRYPTION_KEYS``, a
list of keys, newest first: new values use the first key, old values stay readable under any key
in the list until ``manage.py rotate_encryption`` has rewritten them. Exact lookup without
decrypting goes through ``lookup_hash``, an HMAC-SHA256 under a separate ``FIELD_HASH_KEY``: the
hash column reveals nothing to someone without that key, and a leaked hash key does not open the
ciphertexts (nor the other way round).

This module imports no models, so settings can use ``validate_key_settings`` at startup. Nothing
here logs or puts a value into an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import unicodedata
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = [
    "DecryptionError",
    "decrypt_text",
    "encrypt_text",
    "is_current",
    "lookup_hash",
    "normalize_identifier",
    "rotate_token",
    "validate_key_settings",
]

# Fernet keys are 32 random bytes in url-safe base64 (44 characters with padding).
_FERNET_KEY_BYTES = 32
MIN_HASH_KEY_LENGTH = 32

_GENERATE_FERNET = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
_GENERATE_HASH_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'

# Characters that only format an identifier ("AB-123 45" is "AB12345" on another card).
_SEPARATORS = frozenset(" \t\r\n\u00a0-_./\u2010\u2011\u2012\u2013\u2014")


class DecryptionError(Exception):
    """A stored value that no configured key opens: a key was removed before rotation finished,
    or the column holds something that was never encrypted by us."""


def validate_key_settings(encryption_keys: Sequence[str], hash_key: str) -> None:
    """Refuse a configuration that cannot work, naming the setting and entry, never the key."""
    keys = [k.strip() for k in encryption_keys]
    if not keys or not any(keys):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: set it to one or more Fernet keys, comma separated, "
            f"newest first. Generate a key with: {_GENERATE_FERNET}"
        )
    for position, key in enumerate(keys, start=1):
        if not _is_fernet_key(key):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS entry {position} of {len(keys)} is not a Fernet key "
                f"(expected 32 bytes in url-safe base64, 44 characters). "
                f"Generate one with: {_GENERATE_FERNET}"
            )
        if key in keys[: position - 1]:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS entry {position} repeats an earlier entry."
            )
    if len(hash_key) < MIN_HASH_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"FIELD_HASH_KEY must be at least {MIN_HASH_KEY_LENGTH} characters of random text. "
            f"Generate one with: {_GENERATE_HASH_KEY}"
        )
    if hash_key in keys:
        raise ImproperlyConfigured(
            "FIELD_HASH_KEY must be a separate secret, not one of the FIELD_ENCRYPTION_KEYS."
        )


def _is_fernet_key(key: str) -> bool:
    # Strict: the lenient decoder would accept two keys pasted together without a comma.
    try:
        raw = base64.b64decode(key.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return len(raw) == _FERNET_KEY_BYTES and base64.urlsafe_b64encode(raw).decode() == key


@cache
def _fernets() -> tuple[Fernet, MultiFernet]:
    """(newest key alone, all keys) built once from settings; rebuilt when tests change them."""
    keys = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []))
    hash_key = getattr(settings, "FIELD_HASH_KEY", "")
    validate_key_settings(keys, hash_key)
    fernets = [Fernet(k.strip().encode("ascii")) for k in keys]
    return fernets[0], MultiFernet(fernets)


@cache
def _hash_key() -> bytes:
    hash_key: str = getattr(settings, "FIELD_HASH_KEY", "")
    validate_key_settings(list(getattr(settings, "FIELD_ENCRYPTION_KEYS", [])), hash_key)
    return hash_key.encode("utf-8")


def _reset_keys(*, setting: str, **kwargs: Any) -> None:
    if setting in {"FIELD_ENCRYPTION_KEYS", "FIELD_HASH_KEY"}:
        _fernets.cache_clear()
        _hash_key.cache_clear()


setting_changed.connect(_reset_keys, dispatch_uid="clinic.crypto.reset_keys")


def encrypt_text(value: str) -> str:
    """Ciphertext of ``value`` under the newest key, as ASCII text fit for a text column."""
    if not isinstance(value, str):
        raise TypeError("encrypt_text takes a str")
    return _fernets()[1].encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(token: str) -> str:
    """The text inside ``token``, whichever configured key sealed it."""
    try:
        return _fernets()[1].decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(
            "An encrypted value could not be opened with any key in FIELD_ENCRYPTION_KEYS."
        ) from exc


def is_current(token: str) -> bool:
    """True when ``token`` is sealed with the newest key (nothing for rotation to do)."""
    try:
        _fernets()[0].decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


def rotate_token(token: str) -> str:
    """``token`` re-sealed under the newest key (raises DecryptionError if no key opens it)."""
    try:
        return _fernets()[1].rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(
            "An encrypted value could not be opened with any key in FIELD_ENCRYPTION_KEYS."
        ) from exc


def normalize_identifier(value: str) -> str:
    """The identity of an identifier without its formatting: Unicode-compatible forms folded,
    separators (spaces, dashes, dots, slashes, underscores) dropped, upper case."""
    folded = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in folded if ch not in _SEPARATORS).upper()


def lookup_hash(
    value: str, *, normalize: Callable[[str], str] | None = normalize_identifier
) -> str:
    """Hex HMAC-SHA256 of the normalized ``value`` under FIELD_HASH_KEY (64 characters).

    A value that normalizes to nothing hashes to "" so blank identifiers never collide on one
    shared hash. Pass ``normalize=None`` to hash the value exactly as given.
    """
    normalized = normalize(value) if normalize is not None else value
    if not normalized:
        return ""
    return hmac.new(_hash_key(), normalized.encode("utf-8"), hashlib.sha256).hexdigest()

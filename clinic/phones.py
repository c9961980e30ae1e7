"""The one phone-number normaliser: every number Tandem stores or dials is E.164."""

from __future__ import annotations

import phonenumbers

from clinic.errors import ApplicationError

DEFAULT_REGION = "US"


class InvalidPhoneNumber(ApplicationError):
    code = "phone_invalid"


def phone_normalize(
    value: str | None, *, field: str = "phone", region: str = DEFAULT_REGION
) -> str:
    """``value`` in E.164 ("+15551234567"), or "" for an empty value.

    Numbers of ``region`` may be written without the country code, with the separators people
    type; anything that is not a real number raises ``InvalidPhoneNumber`` naming ``field``.
    """
    text = (value or "").strip()
    if not text:
        return ""
    if len(text) > 40:
        raise InvalidPhoneNumber("That phone number is too long.", extra={"field": field})
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(
            "Enter a phone number such as (201) 555-0123 or +44 20 7946 0958.",
            extra={"field": field},
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(
            "That is not a valid phone number: check the area code and the number of digits.",
            extra={"field": field},
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_or_none(value: str | None, *, region: str = DEFAULT_REGION) -> str | None:
    """The E.164 form of a valid number, or None for anything else (inbound webhooks, search
    boxes: places where a bad number is not an error to show)."""
    try:
        return phone_normalize(value, region=region) or None
    except InvalidPhoneNumber:
        return None

"""Forms and consent texts a new session uses: the organization's newest versions, with
defaults seeded the first time an organization starts a session."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from .models import ConsentText, FormDefinition

if TYPE_CHECKING:
    from clinic.models import Location

DEFAULT_CONSENTS = (
    {
        "key": "privacy",
        "title": "Notice of privacy practices",
        "order": 10,
        "requires_signature": True,
        "body": (
            "This notice describes how medical information about you may be used and disclosed "
            "and how you can get access to this information.\n\n"
            "We use your health information to treat you, to obtain payment for your care and to "
            "run our clinic. We share it with your insurance company and with other providers who "
            "care for you only as the law allows. You may ask for a copy of your record, ask us to "
            "correct it, ask us to limit what we share, and ask for a list of the disclosures we "
            "made. You may complain to us or to the Secretary of Health and Human Services if you "
            "believe your privacy rights were violated; we will not retaliate against you.\n\n"
            "By signing you acknowledge that you received this notice."
        ),
    },
    {
        "key": "treatment",
        "title": "Consent to treatment and assignment of benefits",
        "order": 20,
        "requires_signature": True,
        "body": (
            "I consent to the examinations, tests and treatment my clinicians find necessary, "
            "including the set-up and use of medical equipment at home.\n\n"
            "I assign to the clinic the insurance benefits otherwise payable to me for these "
            "services, and I authorize the release of the information my insurer needs to "
            "process my claims. I understand that I am responsible for charges my insurance does "
            "not pay.\n\n"
            "This consent stays in effect until I withdraw it in writing."
        ),
    },
    {
        "key": "communications",
        "title": "Appointment reminders and messages",
        "order": 30,
        "requires_signature": False,
        "body": (
            "We send appointment reminders and notices about your equipment by text message, "
            "email or phone, as you prefer. Message and data rates may apply. Reply STOP to any "
            "text to stop receiving texts, or tell us at any visit."
        ),
    },
)


def consent_sha256(consent: ConsentText) -> str:
    """The hash printed on a signed PDF: over the title, version and text exactly as shown."""
    text = f"{consent.key}\nv{consent.version}\n{consent.title}\n\n{consent.body}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _newest(qs: list[Any], location: Location) -> dict[str, Any]:
    """Per key, the newest active version; a location's own text wins over the organization's."""
    chosen: dict[str, object] = {}
    for row in sorted(qs, key=lambda c: (c.location_id is not None, c.version)):
        key = getattr(row, "key", "form")
        chosen[key] = row
    return chosen


def consents_seed(location: Location) -> None:
    """Give the organization the default consents if it has none at all."""
    if ConsentText.objects.filter(organization_id=location.organization_id).exists():
        return
    for item in DEFAULT_CONSENTS:
        ConsentText.objects.create(organization_id=location.organization_id, **item)


def consents_current(location: Location) -> list[ConsentText]:
    consents_seed(location)
    rows = list(
        ConsentText.objects.filter(
            Q(location__isnull=True) | Q(location=location),
            organization_id=location.organization_id,
            is_active=True,
        )
    )
    chosen = _newest(rows, location)
    return sorted(chosen.values(), key=lambda c: (c.order, c.key))


def form_current(location: Location) -> FormDefinition:
    rows = list(
        FormDefinition.objects.filter(
            Q(location__isnull=True) | Q(location=location),
            organization_id=location.organization_id,
            is_active=True,
        )
    )
    if not rows:
        return FormDefinition.objects.get_or_create(
            organization_id=location.organization_id,
            location=None,
            version=1,
            defaults={"definition": {}},
        )[0]
    form: FormDefinition = _newest(rows, location)["form"]
    return form

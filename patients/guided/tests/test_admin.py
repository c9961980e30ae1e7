"""Forms and consents in the admin: an edited consent text becomes a new version, sessions keep
the one they showed; a form definition naming unknown fields is refused; drafts stay hidden."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import Role
from patients.guided import protocol
from patients.guided.consents import consents_current
from patients.guided.models import ConsentText, FormDefinition

from .factories import paired_session

pytestmark = pytest.mark.django_db


def test_editing_a_consent_text_makes_a_new_version_and_sessions_keep_theirs(make_staff, signed_in):
    session, _raw, _staff = paired_session()
    admin_user = make_staff(Role.ADMIN, session.location)
    client = signed_in(admin_user)
    privacy = ConsentText.objects.get(organization=session.organization, key="privacy")
    response = client.post(
        reverse("admin:guided_consenttext_change", args=[privacy.pk]),
        {
            "key": "privacy",
            "title": privacy.title,
            "body": "A shorter notice.",
            "requires_signature": "on",
            "order": privacy.order,
            "is_active": "on",
            "location": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    versions = ConsentText.objects.filter(organization=session.organization, key="privacy")
    assert sorted(versions.values_list("version", "is_active")) == [(1, False), (2, True)]
    privacy.refresh_from_db()
    assert privacy.body != "A shorter notice."  # the shown text is kept as it was
    snapshot = protocol.session_snapshot(session_id=session.pk, role="patient")
    shown = next(c for c in snapshot["definition"]["consents"] if c["key"] == "privacy")
    assert shown["version"] == 1
    newest = next(c for c in consents_current(session.location) if c.key == "privacy")
    assert newest.version == 2 and newest.body == "A shorter notice."


def test_a_form_definition_with_unknown_fields_is_refused(make_staff, signed_in, location):
    client = signed_in(make_staff(Role.ADMIN, location))
    response = client.post(
        reverse("admin:guided_formdefinition_add"),
        {
            "version": 2,
            "definition": '{"steps": {"identity": {"fields": {"shoe_size": {"required": true}}}}}',
            "is_active": "on",
            "location": "",
        },
    )
    assert response.status_code == 200
    assert "not a field of the identity step" in response.content.decode()
    assert not FormDefinition.objects.filter(organization=location.organization).exists()


def test_a_form_definition_relabels_and_requires_fields(make_staff, signed_in, location):
    client = signed_in(make_staff(Role.ADMIN, location))
    response = client.post(
        reverse("admin:guided_formdefinition_add"),
        {
            "version": 1,
            "definition": (
                '{"steps": {"demographics": {"fields": {"email": {"required": true, '
                '"label": "Your email"}, "phone_home": {"hidden": true}}}}}'
            ),
            "is_active": "on",
            "location": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    from .factories import started_session

    session = started_session(location=location)
    steps = protocol.session_snapshot(session_id=session.pk, role="patient")["definition"]["steps"]
    demographics = next(s for s in steps if s["key"] == "demographics")
    email = next(f for f in demographics["fields"] if f["name"] == "email")
    assert email["label"] == "Your email" and email["required"] is True
    assert "phone_home" not in {f["name"] for f in demographics["fields"]}


def test_session_admin_is_read_only_and_hides_drafts(make_staff, signed_in):
    session, _raw, _staff = paired_session()
    client = signed_in(make_staff(Role.ADMIN, session.location))
    page = client.get(reverse("admin:guided_guidedsession_change", args=[session.pk]))
    assert page.status_code == 200
    assert "values_encrypted" not in page.content.decode()
    response = client.post(
        reverse("admin:guided_guidedsession_delete", args=[session.pk]), {"post": "yes"}
    )
    assert response.status_code == 403

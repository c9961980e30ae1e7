"""Guided pre-registration: a staff tablet drives a patient tablet through intake in real time.

Owns the paired session (pairing codes, the patient device token, server-held drafts and
signatures, the JSON protocol over Channels) and writes the result into the patient record on
completion. docs/guided-session-protocol.md describes the protocol.
"""

from django.apps import AppConfig


class GuidedConfig(AppConfig):
    name = "patients.guided"
    label = "guided"
    verbose_name = "Guided pre-registration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic.portal.registry import NavItem, nav_register

        from .permissions import NAV_ROLES, can_use_guided

        nav_register(
            NavItem(
                "guided",
                "Guided sessions",
                "guided:list",
                roles=NAV_ROLES,
                check=can_use_guided,
                order=25,
            )
        )

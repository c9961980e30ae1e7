"""Communications: SMS, email and the patient timeline."""

from typing import Any

from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "comms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic.models import Role
        from clinic.portal.registry import NavItem, nav_register
        from clinic.realtime.registry import stream_register
        from comms import handlers, timeline  # noqa: F401 - register handlers, timeline sources
        from comms.services import STREAM, comms_groups, comms_snapshot
        from patients.tabs import RecordTab, record_tab_register

        stream_register(STREAM, snapshot=comms_snapshot, groups=comms_groups)
        record_tab_register(RecordTab("communications", "Communications", "comms:patient", 50))
        nav_register(
            NavItem(
                "comms_inbox",
                "Inbox",
                "comms:inbox",
                roles=frozenset({Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN}),
                order=30,
            )
        )

        from comms.gmail_services import gmail_app_ready  # Gmail: gateway and search page

        gmail_app_ready()

    def seed_demo(self, *, admin: Any, locations: list[Any], users: dict[str, Any]) -> None:
        """Called by ``manage.py seed_demo`` inside its transaction (after patients)."""
        from comms.demo import demo_comms_seed

        demo_comms_seed(admin=admin, locations=locations)

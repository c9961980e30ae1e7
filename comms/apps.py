"""Communications: SMS, email and the patient timeline.

``messaging/`` (conversations, sending and delivery, templates, the timeline, the inbox pages),
``sms/`` (Twilio: gateway, webhooks, incoming texts and opt-out keywords), ``gmail/``
(connected mailboxes, sync, email pages and the email gateway). ``CommsConfig.ready()`` is the
one place comms wires itself in.
"""

from typing import Any

from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "comms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic.models import Role
        from clinic.portal.registry import NavItem, nav_register
        from clinic.realtime.registry import stream_register
        from comms.gmail import tasks as gmail_tasks  # noqa: F401 - defines the Celery tasks
        from comms.gmail.permissions import can_use_email
        from comms.gmail.selectors import email_timeline_source
        from comms.gmail.services import gmail_gateway_for
        from comms.messaging import handlers  # noqa: F401 - defines the outbox handlers
        from comms.messaging import tasks as messaging_tasks  # noqa: F401 - defines the tasks
        from comms.messaging.gateways import gateway_register
        from comms.messaging.stream import STREAM, comms_groups, comms_snapshot
        from comms.messaging.timeline import (
            messages_source,
            notes_source,
            status_source,
            timeline_source_register,
        )
        from comms.models import Channel
        from comms.sms.gateway import twilio_gateway_for
        from patients.record.tabs import RecordTab, record_tab_register

        stream_register(STREAM, snapshot=comms_snapshot, groups=comms_groups)
        record_tab_register(RecordTab("communications", "Communications", "comms:patient", 50))
        gateway_register(Channel.SMS, twilio_gateway_for)
        gateway_register(Channel.EMAIL, gmail_gateway_for)
        for source in (messages_source, notes_source, status_source, email_timeline_source):
            timeline_source_register(source)
        nav_register(
            NavItem(
                "comms_inbox",
                "Inbox",
                "comms:inbox",
                roles=frozenset({Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN}),
                order=30,
            )
        )
        nav_register(NavItem("email", "Email", "comms:email_list", check=can_use_email, order=56))

    def seed_demo(self, *, admin: Any, locations: list[Any], users: dict[str, Any]) -> None:
        """Called by ``manage.py seed_demo`` inside its transaction (after patients)."""
        from comms.demo import demo_comms_seed  # import here: models load after the registry

        demo_comms_seed(admin=admin, locations=locations)

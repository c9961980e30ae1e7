from typing import Any

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Every registration of scheduling: outbox handlers, the calendar stream, nav entries,
        the patient record's Appointments tab and the comms timeline source."""
        from clinic.models import Role
        from clinic.portal.registry import NavItem, nav_register
        from clinic.realtime.registry import stream_register
        from comms.messaging.timeline import timeline_source_register
        from patients.record.tabs import RecordTab, record_tab_register
        from scheduling.booking import handlers as booking_handlers  # noqa: F401
        from scheduling.booking.timeline import appointments_timeline
        from scheduling.calendar.realtime import STREAM, calendar_groups, calendar_snapshot
        from scheduling.permissions import can_book, can_use_calendar
        from scheduling.reminders import handlers as reminder_handlers  # noqa: F401
        from scheduling.waitlist import handlers as waitlist_handlers  # noqa: F401

        stream_register(STREAM, snapshot=calendar_snapshot, groups=calendar_groups, keyed=True)
        staff_roles = frozenset({Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN})
        nav_register(
            NavItem(
                "calendar",
                "Calendar",
                "scheduling:calendar",
                roles=staff_roles,
                check=can_use_calendar,
                order=30,
            )
        )
        nav_register(
            NavItem(
                "waitlist",
                "Waitlist",
                "scheduling:waitlist",
                roles=frozenset({Role.ADMIN, Role.EMPLOYEE}),
                check=can_book,
                order=31,
            )
        )
        field = frozenset({Role.FIELD_TECHNICIAN})
        nav_register(NavItem("my_day", "My day", "scheduling:my_day", roles=field, order=12))
        nav_register(
            NavItem(
                "my_availability",
                "My availability",
                "scheduling:my_availability",
                roles=field,
                order=14,
            )
        )
        record_tab_register(
            RecordTab("appointments", "Appointments", "scheduling:patient_appointments", 40)
        )
        timeline_source_register(appointments_timeline)

    def seed_demo(self, *, admin: Any, locations: list[Any], users: dict[str, Any]) -> None:
        """Called by ``manage.py seed_demo`` inside its transaction (after patients)."""
        from scheduling.demo import demo_schedule_seed  # import here: needs the app registry

        demo_schedule_seed(admin=admin, locations=locations, users=users)

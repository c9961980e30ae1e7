from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire the clinic core in: its nav entries, its realtime stream, the sign-in lockout
        hook and its Celery tasks. Every app wires itself the same way, from ready()."""
        from clinic.auth import signals  # noqa: F401  (connects the axes lockout receiver)
        from clinic.events import tasks  # noqa: F401  (registers the outbox tasks with Celery)
        from clinic.models import Role
        from clinic.notifications.services import STREAM, notifications_snapshot
        from clinic.permissions import can_manage_organization, can_view_activity_log
        from clinic.portal.registry import STAFF_ROLES, NavItem, nav_register
        from clinic.realtime.registry import stream_register

        stream_register(STREAM, snapshot=notifications_snapshot)

        nav_register(
            NavItem("dashboard", "Dashboard", "clinic:dashboard", path="/", order=0, exact=True)
        )
        nav_register(
            NavItem(
                "notifications",
                "Notifications",
                "clinic:notifications",
                path="/notifications",
                roles=STAFF_ROLES,
                order=90,
                section="account",  # the bell is in the top bar; the list is in the account menu
            )
        )
        nav_register(
            NavItem(
                "organization",
                "Organization",
                "clinic:organization",
                roles=frozenset({Role.ADMIN}),
                check=can_manage_organization,
                order=200,
                section="admin",
            )
        )
        nav_register(
            NavItem(
                "activity",
                "Activity log",
                "clinic:activity",
                path="/activity",
                roles=frozenset({Role.ADMIN}),
                check=can_view_activity_log,
                order=210,
                section="admin",
            )
        )
        nav_register(
            NavItem(
                "admin",
                "Django admin",
                "admin:index",
                path="/admin/",
                roles=frozenset({Role.ADMIN}),
                check=lambda user: user.is_staff,
                order=220,
                section="admin",
            )
        )

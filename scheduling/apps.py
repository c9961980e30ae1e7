from typing import Any

from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # scheduling-core: reactions to other apps' events (a C/CONFIRM reply confirms).
        # scheduling-ui: the live calendar stream and its event handlers, nav entries, the
        # patient record's Appointments tab, the comms timeline source.
        from scheduling import (
            handlers,  # noqa: F401
            realtime,  # noqa: F401
        )
        from scheduling.views import ui_register

        ui_register()

    def seed_demo(self, *, admin: Any, locations: list[Any], users: dict[str, Any]) -> None:
        """Called by ``manage.py seed_demo`` inside its transaction (after patients)."""
        from scheduling.demo import demo_schedule_seed

        demo_schedule_seed(admin=admin, locations=locations, users=users)

"""Communications: SMS, email and the patient timeline."""

from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "comms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic.realtime import stream_register
        from comms.services import STREAM, comms_groups, comms_snapshot

        stream_register(STREAM, snapshot=comms_snapshot, groups=comms_groups)

from django.apps import AppConfig


class TelehealthConfig(AppConfig):
    name = "telehealth"
    default_auto_field = "django.db.models.BigAutoField"

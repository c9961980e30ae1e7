from django.apps import AppConfig


class GuidedConfig(AppConfig):
    name = "patients.guided"
    label = "guided"
    verbose_name = "Guided pre-registration"
    default_auto_field = "django.db.models.BigAutoField"

"""Patients: records, lifecycle, insurance, referrals, authorizations and documents."""

from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic.models import Role
        from clinic.views.portal import NavItem, nav_register

        nav_register(
            NavItem(
                "patients",
                "Patients",
                "patients:list",
                roles=frozenset({Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN}),
                order=20,
            )
        )
        from patients.documents_services import register_file_access

        register_file_access()
        __import__("patients.referrals_services").referrals_services.register_nav()

"""Patients: records, lifecycle, insurance, referrals, authorizations and documents."""

from typing import Any

from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic.models import Role
        from clinic.portal.registry import NavItem, nav_register

        nav_register(
            NavItem(
                "patients",
                "Patients",
                "patients:list",
                roles=frozenset({Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN}),
                order=20,
            )
        )
        from patients.csv_exports import register_file_access as register_export_access
        from patients.documents_services import register_file_access
        from patients.referrals_services import register_nav

        register_file_access()
        register_export_access()
        register_nav()

    def seed_demo(self, *, admin: Any, locations: list[Any], users: dict[str, Any]) -> None:
        """Called by ``manage.py seed_demo`` inside its transaction."""
        from clinic.models import Role
        from patients.demo import demo_patients_seed

        demo_patients_seed(
            admin=admin, locations=locations, technician=users.get(Role.FIELD_TECHNICIAN)
        )

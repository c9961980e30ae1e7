"""Patients: records, lifecycle, insurance, referrals, authorizations and documents.

Sub-domains: ``record`` (the patient record itself), ``clinical`` (insurance and medical
history), ``documents``, ``referrals`` (referrals and authorizations), ``bulk`` (CSV import and
export); ``guided`` is its own app. This is the one place the app wires itself in.
"""

from typing import Any

from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic.models import Role
        from clinic.portal.registry import NavItem, nav_register
        from patients.bulk.exports import register_file_access as register_export_access
        from patients.documents.services import register_file_access
        from patients.record.tabs import RecordTab, record_tab_register

        staff = frozenset({Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN})
        nav_register(
            NavItem(
                "patients",
                "Patients",
                "patients:list",
                roles=staff | {Role.FIELD_TECHNICIAN},
                order=20,
            )
        )
        nav_register(
            NavItem("referrals", "Referrals", "patients:referral_queue", roles=staff, order=25)
        )
        for tab in (
            RecordTab("details", "Details", "patients:detail", 10),
            RecordTab("insurance", "Insurance", "patients:insurance", 20),
            RecordTab("medical_history", "Medical history", "patients:medical_history", 30),
            # appointments (scheduling) 40, communications (comms) 50, equipment 70
            RecordTab("documents", "Documents", "patients:documents", 60),
            RecordTab("referrals", "Referrals", "patients:referrals", 80),
            RecordTab("authorizations", "Authorizations", "patients:authorizations", 90),
            RecordTab("history", "History", "patients:detail", 100, query="?tab=history"),
        ):
            record_tab_register(tab)
        register_file_access()
        register_export_access()

    def seed_demo(self, *, admin: Any, locations: list[Any], users: dict[str, Any]) -> None:
        """Called by ``manage.py seed_demo`` inside its transaction."""
        from clinic.models import Role  # import here: apps.py loads before the models
        from patients.demo import demo_patients_seed  # import here: it imports models

        demo_patients_seed(
            admin=admin, locations=locations, technician=users.get(Role.FIELD_TECHNICIAN)
        )

"""Billing: fee schedules per payer and self-pay, the appointment types billed with which codes
(``fees``), and the append-only charges ledger written by outbox handlers when a visit is
completed or undone (``charges``). Claims, remittances, invoices and payments come next."""

from typing import Any

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.charges import handlers  # noqa: F401  (registers the outbox reactions)
        from billing.permissions import BILLING_ROLES, can_use_billing
        from clinic.portal.registry import NavItem, nav_register
        from patients.record.tabs import RecordTab, record_tab_register

        nav_register(
            NavItem(
                "billing",
                "Billing",
                "billing:charges",
                roles=BILLING_ROLES,
                check=can_use_billing,
                order=34,
            )
        )
        record_tab_register(
            RecordTab("charges", "Charges", "billing:patient_charges", 70, check=can_use_billing)
        )

    def seed_demo(self, *, admin: Any, locations: list[Any], users: dict[str, Any]) -> None:
        """Called by ``manage.py seed_demo`` inside its transaction (after scheduling)."""
        from billing.demo import demo_billing_seed  # import here: models load after apps

        demo_billing_seed(admin=admin)

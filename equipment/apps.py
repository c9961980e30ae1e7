"""Equipment and resupply: the catalogue of items, stock per location with its movement ledger
and serial units (``catalog``, ``stock``); patient equipment, delivery tickets and the resupply
engine come next as sub-domains of their own."""

from typing import Any

from django.apps import AppConfig


class EquipmentConfig(AppConfig):
    name = "equipment"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic.models import Role
        from clinic.portal.registry import NavItem, nav_register
        from equipment.stock import handlers  # noqa: F401  (registers the outbox reactions)
        from equipment.stock.permissions import STOCK_ROLES, can_manage_stock_somewhere
        from patients.record.tabs import RecordTab, record_tab_register

        nav_register(
            NavItem("equipment", "Equipment", "equipment:stock", roles=STOCK_ROLES, order=32)
        )
        nav_register(
            NavItem(
                "deliveries",
                "Deliveries",
                "equipment:tickets",
                roles=frozenset({Role.ADMIN, Role.EMPLOYEE}),
                check=can_manage_stock_somewhere,
                order=33,
            )
        )
        nav_register(
            NavItem(
                "my_deliveries",
                "My deliveries",
                "equipment:my_deliveries",
                roles=frozenset({Role.FIELD_TECHNICIAN}),
                order=13,
            )
        )
        record_tab_register(RecordTab("equipment", "Equipment", "equipment:patient_equipment", 45))

    def seed_demo(self, *, admin: Any, locations: list[Any], users: dict[str, Any]) -> None:
        """Called by ``manage.py seed_demo`` inside its transaction."""
        from equipment import demo  # import here: the demo uses models, loaded after the apps

        demo.demo_equipment_seed(admin=admin, locations=locations)
        demo.demo_deliveries_seed(admin=admin, locations=locations, users=users)

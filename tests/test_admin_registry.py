"""Every model of the project is in the Django admin (for organization ADMINs, scoped), so no
table is reachable only through the database."""

from django.apps import apps
from django.contrib import admin

from clinic.admin import TenantScopedMixin

PROJECT_APPS = {
    "clinic",
    "patients",
    "guided",
    "scheduling",
    "equipment",
    "comms",
    "telehealth",
    "billing",
}


def test_every_project_model_is_registered_and_scoped():
    missing, unscoped = [], []
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        model_admin = admin.site._registry.get(model)
        if model_admin is None:
            missing.append(model._meta.label)
        elif not isinstance(model_admin, TenantScopedMixin):
            unscoped.append(model._meta.label)
    assert not missing, f"register in the admin: {missing}"
    assert not unscoped, f"admin classes must build on TenantAdmin: {unscoped}"

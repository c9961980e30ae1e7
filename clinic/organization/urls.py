"""Organization administration: users, memberships and locations."""

from django.urls import path

from clinic.organization import views as organization

urlpatterns = [
    path("organization/", organization.organization, name="organization"),
    path("organization/users/", organization.users, name="organization_users"),
    path("organization/users/new", organization.user_create, name="organization_user_create"),
    path(
        "organization/users/<uuid:public_id>/",
        organization.user_detail,
        name="organization_user",
    ),
    path(
        "organization/users/<uuid:public_id>/memberships",
        organization.membership_add,
        name="organization_membership_add",
    ),
    path(
        "organization/users/<uuid:public_id>/deactivate",
        organization.user_deactivate,
        name="organization_user_deactivate",
    ),
    path(
        "organization/users/<uuid:public_id>/reactivate",
        organization.user_reactivate,
        name="organization_user_reactivate",
    ),
    path(
        "organization/memberships/<uuid:public_id>/role",
        organization.membership_role,
        name="organization_membership_role",
    ),
    path(
        "organization/memberships/<uuid:public_id>/remove",
        organization.membership_remove,
        name="organization_membership_remove",
    ),
    path("organization/locations/", organization.locations, name="organization_locations"),
    path(
        "organization/locations/new",
        organization.location_create,
        name="organization_location_create",
    ),
    path(
        "organization/locations/<uuid:public_id>/",
        organization.location_edit,
        name="organization_location",
    ),
    path(
        "organization/locations/<uuid:public_id>/deactivate",
        organization.location_deactivate,
        name="organization_location_deactivate",
    ),
    path(
        "organization/locations/<uuid:public_id>/reactivate",
        organization.location_reactivate,
        name="organization_location_reactivate",
    ),
]

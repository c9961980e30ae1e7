from __future__ import annotations

import uuid
from functools import cached_property

import pghistory
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from .base import PublicIdModel


class Organization(PublicIdModel):
    """A provider company: the tenant boundary. Nothing crosses it."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=64, default="America/New_York")

    tenant_organization_field = "pk"

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Location(PublicIdModel):
    """One healthcare unit of an organization (clinic, lab, warehouse)."""

    class Kind(models.TextChoices):
        CLINIC = "CLINIC", "Clinic"
        LAB = "LAB", "Sleep lab"
        WAREHOUSE = "WAREHOUSE", "Warehouse"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="locations"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CLINIC)
    timezone = models.CharField(max_length=64, default="America/New_York")
    address = models.CharField(max_length=300, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    is_active = models.BooleanField(default=True)

    tenant_organization_field = "organization"
    tenant_location_field = "pk"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="location_name_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "ADMIN", "Administrator"
    EMPLOYEE = "EMPLOYEE", "Office staff"
    FIELD_TECHNICIAN = "FIELD_TECHNICIAN", "Field technician"
    CLINICIAN = "CLINICIAN", "Clinician"
    SUPPORT = "SUPPORT", "Support"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_superuser"] = True
        return self.create_user(email, password, **extra)


# Only the access-relevant fields are tracked: never the password hash.
@pghistory.track(
    pghistory.UpdateEvent("access_changed", condition=pghistory.AnyChange("is_active", "email")),
    fields=["is_active", "email", "organization"],
    model_name="UserAccessEvent",
    meta={"verbose_name": "user access change"},
)
class User(AbstractBaseUser, PermissionsMixin):
    """A staff member. Patients never get a User; they use short-lived, single-purpose tokens."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="users", null=True, blank=True
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    tenant_organization_field = "organization"

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name or self.email

    # -- roles ---------------------------------------------------------------
    @cached_property
    def _memberships(self) -> list[Membership]:
        return list(self.memberships.select_related("location").filter(location__is_active=True))

    @property
    def roles(self) -> set[str]:
        return {m.role for m in self._memberships}

    @property
    def is_org_admin(self) -> bool:
        return self.organization_id is not None and Role.ADMIN in self.roles

    @property
    def is_staff(self) -> bool:
        """Django admin access: organization ADMINs (and platform superusers)."""
        return self.is_active and (self.is_superuser or self.is_org_admin)

    @property
    def primary_role(self) -> str | None:
        order = [Role.ADMIN, Role.EMPLOYEE, Role.CLINICIAN, Role.FIELD_TECHNICIAN, Role.SUPPORT]
        roles = self.roles
        return next((r for r in order if r in roles), None)

    def location_ids(self) -> set[int]:
        return {m.location_id for m in self._memberships}

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


@pghistory.track(model_name="MembershipEvent", meta={"verbose_name": "membership change"})
class Membership(PublicIdModel):
    """A user's role at one location. Role changes are kept in the change history."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    tenant_organization_field = "location__organization"
    tenant_location_field = "location"

    class Meta:
        ordering = ["location__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "location"], name="membership_one_role_per_location"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.location}: {self.get_role_display()}"

"""Factories for the clinic core. Other apps' factories build on these."""

from __future__ import annotations

import factory
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.models import Location, Membership, Organization, Role, User

DEFAULT_PASSWORD = "correct horse battery staple"


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class LocationFactory(factory.django.DjangoModelFactory[Location]):
    class Meta:
        model = Location

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Location {n}")


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    organization = factory.SubFactory(OrganizationFactory)
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def finish(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    location = factory.SubFactory(LocationFactory)
    role = Role.EMPLOYEE


def staff_user(
    *, role: str = Role.EMPLOYEE, location: Location | None = None, **kwargs: object
) -> User:
    """A user with one membership at ``location`` (a new organization and location if omitted)."""
    location = location or LocationFactory.create()
    user = UserFactory.create(organization=location.organization, **kwargs)
    MembershipFactory.create(user=user, location=location, role=role)
    return user


def totp_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)

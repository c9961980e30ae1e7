"""``manage.py seed_demo``: load the demo organization once, then say how to sign in.

Idempotent: when the demo organization exists nothing is written, and the sign-in table is
printed again. Names are generated (Faker, fixed seed), never real people. Everyone shares
one password, ``DEMO_PASSWORD`` from the environment or a default passphrase.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError
from clinic.models import Location, Membership, Organization, Role, User
from clinic.notifications.services import notification_send
from clinic.organization.services import location_create, membership_add, user_create

DEMO_SLUG = "brightwater"
DEMO_NAME = "Brightwater Sleep & Respiratory"
DEMO_DOMAIN = "brightwater.example"
DEFAULT_PASSWORD = "calm-tide-lantern-47"  # noqa: S105 (a published demo password)
NAME_SEED = 2311
TOTP_HELP = (
    "Two-step sign-in: enter the email and password, then a 6-digit code from an "
    "authenticator app. The first sign-in shows a QR code and the secret to add to any "
    "authenticator app (Google Authenticator, Microsoft Authenticator, 1Password, FreeOTP, "
    "...), then gives you single-use backup codes. Lost a demo user's authenticator? Start "
    "over with `make reset-data`."
)


@dataclass(frozen=True)
class DemoLocation:
    key: str
    name: str
    kind: str
    timezone: str
    address: str
    phone: str


# Fictional places; 555-01xx numbers are reserved for fiction.
LOCATIONS = [
    DemoLocation(
        "riverside",
        "Riverside Sleep Center",
        Location.Kind.CLINIC,
        "America/New_York",
        "1200 Riverside Drive, Suite 300, Hartford, CT 06103",
        "+18605550142",
    ),
    DemoLocation(
        "northgate",
        "Northgate Home Care",
        Location.Kind.WAREHOUSE,
        "America/Chicago",
        "48 Northgate Industrial Park, Madison, WI 53704",
        "+16085550117",
    ),
]

# (role, mailbox, locations) — one user per role.
USERS = [
    (Role.ADMIN, "admin", ["riverside", "northgate"]),
    (Role.EMPLOYEE, "employee", ["riverside"]),
    (Role.FIELD_TECHNICIAN, "technician", ["northgate"]),
    (Role.CLINICIAN, "clinician", ["riverside"]),
    (Role.SUPPORT, "support", ["riverside", "northgate"]),
]

WELCOME: dict[str, tuple[str, str]] = {
    Role.ADMIN: ("Welcome to Tandem", "Add your team and locations under Organization."),
    Role.EMPLOYEE: ("Welcome to Tandem", "Your locations and messages are on your dashboard."),
    Role.FIELD_TECHNICIAN: ("Welcome to Tandem", "My day shows your locations and their phones."),
    Role.CLINICIAN: ("Welcome to Tandem", "Your locations and messages are on your dashboard."),
    Role.SUPPORT: ("Welcome to Tandem", "Live update health is on your dashboard."),
}


def demo_email(mailbox: str) -> str:
    return f"{mailbox}@{DEMO_DOMAIN}"


def demo_names() -> list[str]:
    """One generated name per demo user, the same on every machine (fixed seed)."""
    try:
        from faker import Faker
    except ImportError:  # production installs leave out the dev tools
        return ["Morgan Reyes", "Jordan Whitfield", "Avery Castillo", "Riley Okafor", "Casey Lind"]
    fake = Faker("en_US")
    fake.seed_instance(NAME_SEED)
    names: list[str] = []
    while len(names) < len(USERS):
        name = f"{fake.first_name()} {fake.last_name()}"
        if name not in names:
            names.append(name)
    return names


class Command(BaseCommand):
    help = "Load the demo organization (once) and print the demo users and how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD
        org = Organization.objects.filter(slug=DEMO_SLUG).first()
        if org is None:
            org = self._create(password)
            self.stdout.write(self.style.SUCCESS(f"Loaded the demo organization {DEMO_NAME}."))
        else:
            self.stdout.write(f"The demo organization {DEMO_NAME} is already loaded: unchanged.")
        self._print_sign_in(org, password)

    @transaction.atomic
    def _create(self, password: str) -> Organization:
        names = demo_names()
        first_role, first_mailbox, _ = USERS[0]
        try:
            validate_password(
                password, user=User(email=demo_email(first_mailbox), full_name=names[0])
            )
        except ValidationError as exc:
            raise CommandError("DEMO_PASSWORD is not accepted: " + " ".join(exc.messages)) from exc

        # Bootstrap: the organization, its first location and its first ADMIN have nobody
        # to create them; everything after goes through the services an ADMIN would use.
        org = Organization.objects.create(
            name=DEMO_NAME, slug=DEMO_SLUG, timezone="America/New_York"
        )
        first = LOCATIONS[0]
        locations = {
            first.key: Location.objects.create(
                organization=org,
                name=first.name,
                kind=first.kind,
                timezone=first.timezone,
                address=first.address,
                phone=first.phone,
            )
        }
        admin = User.objects.create_user(
            demo_email(first_mailbox), password, full_name=names[0], organization=org
        )
        Membership.objects.create(user=admin, location=locations[first.key], role=first_role)
        audit_record(actor=None, action="demo.seeded", obj=org, organization=org)

        try:
            for spec in LOCATIONS[1:]:
                locations[spec.key] = location_create(
                    actor=admin,
                    name=spec.name,
                    kind=spec.kind,
                    timezone=spec.timezone,
                    address=spec.address,
                    phone=spec.phone,
                )
            users: dict[str, User] = {first_role: admin}
            for (role, mailbox, keys), name in zip(USERS, names, strict=True):
                if role == first_role:
                    for key in keys[1:]:
                        membership_add(actor=admin, user=admin, location=locations[key], role=role)
                    continue
                user = user_create(
                    actor=admin,
                    email=demo_email(mailbox),
                    full_name=name,
                    password=password,
                    location=locations[keys[0]],
                    role=role,
                )
                for key in keys[1:]:
                    membership_add(actor=admin, user=user, location=locations[key], role=role)
                users[role] = user
            # Each app may add its own demo records (AppConfig.seed_demo), through its services.
            for config in apps.get_app_configs():
                hook = getattr(config, "seed_demo", None)
                if hook is not None:
                    hook(admin=admin, locations=list(locations.values()), users=users)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self._welcome(users)
        return org

    def _welcome(self, users: dict[str, User]) -> None:
        for role, user in users.items():
            title, body = WELCOME[role]
            notification_send(actor=None, recipient=user, kind="welcome", title=title, body=body)

    def _print_sign_in(self, org: Organization, password: str) -> None:
        users = list(
            User.objects.filter(organization=org, email__endswith=f"@{DEMO_DOMAIN}")
            .prefetch_related("memberships__location")
            .order_by("email")
        )
        order = {email: i for i, email in enumerate(demo_email(m) for _, m, _ in USERS)}
        users.sort(key=lambda u: order.get(u.email, len(order)))
        enrolled = set(
            TOTPDevice.objects.filter(user__in=users, confirmed=True).values_list(
                "user_id", flat=True
            )
        )
        rows = [("Email", "Name", "Role", "Locations", "Authenticator")]
        for user in users:
            memberships = list(user.memberships.all())
            roles = sorted({m.get_role_display() for m in memberships})
            rows.append(
                (
                    user.email,
                    user.full_name,
                    ", ".join(roles) or "-",
                    ", ".join(m.location.name for m in memberships) or "-",
                    "set up" if user.pk in enrolled else "at first sign-in",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        out = self.stdout
        out.write("")
        out.write(f"  Demo users of {org.name}:")
        for n, row in enumerate(rows):
            out.write(
                "    " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            )
            if n == 0:
                out.write("    " + "  ".join("-" * w for w in widths))
        out.write("")
        if users and not users[0].check_password(password):
            out.write("  The demo users' password was set when the demo was first loaded and is")
            out.write("  not the current DEMO_PASSWORD; `make reset-data` starts over.")
        else:
            out.write(f"  Password for every demo user: {password}")
        if not os.environ.get("DEMO_PASSWORD"):
            out.write("  (set DEMO_PASSWORD before the first run to choose another one)")
        out.write("")
        for line in textwrap.wrap(TOTP_HELP, width=88):
            out.write("  " + line)
        out.write("")

"""Who may do what with Gmail.

- Connecting, disconnecting and syncing mailboxes: organization ADMINs only.
- An email linked to a patient is part of the patient's full record (correspondence): an
  ADMIN, or an EMPLOYEE / CLINICIAN at the patient's home location, may read it, mark it, reply,
  and save its attachments as documents. Field technicians and support see none.
- An email not linked to any patient: ADMINs and office staff (EMPLOYEE) for a shared mailbox
  (they work the clinic's inbox and link such mail to the right patient), only the owner for a
  personal one (it may be private mail).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinic.models import Role
from clinic.permissions import can_manage_organization, is_verified_staff
from patients.record.permissions import FULL, access_level, full_access_location_ids

if TYPE_CHECKING:
    from clinic.models import User
    from comms.gmail.models import GmailMailbox
    from comms.models import Message
    from patients.models import Patient


def can_manage_gmail(user: User) -> bool:
    return can_manage_organization(user)


def can_use_email(user: User) -> bool:
    """The email pages at all (search, a message's page)."""
    return is_verified_staff(user) and (user.is_org_admin or bool(full_access_location_ids(user)))


def can_email_patient(user: User, patient: Patient) -> bool:
    return access_level(user, patient, assigned=False) == FULL


def can_use_mailbox(user: User, mailbox: GmailMailbox) -> bool:
    """Send from it: a connected shared mailbox of the organization, or one's own."""
    if mailbox.organization_id != user.organization_id or not mailbox.is_connected:
        return False
    return mailbox.kind == mailbox.Kind.SHARED or mailbox.owner_id == user.pk


def can_see_email(user: User, message: Message, mailbox: GmailMailbox | None) -> bool:
    if message.organization_id != user.organization_id:
        return False
    patient = message.patient if message.patient_id is not None else None
    if patient is not None:
        return can_email_patient(user, patient)
    if mailbox is not None and mailbox.kind == mailbox.Kind.PERSONAL:
        return mailbox.owner_id == user.pk
    return works_shared_inbox(user)


def works_shared_inbox(user: User) -> bool:
    return user.is_org_admin or user.has_role(Role.EMPLOYEE)

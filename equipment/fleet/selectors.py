"""Scoped reads of patient equipment: rows of patients the user may open, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, QuerySet

from clinic.errors import NotFound
from clinic.tenancy import scope_queryset
from patients.record.selectors import patients_visible_to

from .models import PatientEquipment, RentalMonth

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient


def equipment_visible_to(user: User) -> QuerySet[PatientEquipment]:
    return scope_queryset(PatientEquipment.objects.all(), user).filter(
        patient__in=patients_visible_to(user)
    )


def equipment_of_patient(user: User, patient: Patient) -> QuerySet[PatientEquipment]:
    """The patient's items, current first, with their rental months (two queries however
    many rows)."""
    return (
        equipment_visible_to(user)
        .filter(patient=patient)
        .select_related("item", "serial")
        .prefetch_related(
            Prefetch("rental_months", queryset=RentalMonth.objects.order_by("period", "month"))
        )
    )


def equipment_get_visible(user: User, public_id: Any) -> PatientEquipment:
    try:
        return equipment_visible_to(user).select_related("patient", "item").get(public_id=public_id)
    except (PatientEquipment.DoesNotExist, ValueError) as exc:
        raise NotFound("That equipment record does not exist.") from exc

"""The billing app's models, gathered for Django's discovery; each lives in its sub-domain."""

from billing.charges.models import Charge, ChargeKind, ChargeStatus
from billing.fees.models import BillableCode, FeeLine, FeeSchedule

__all__ = ["BillableCode", "Charge", "ChargeKind", "ChargeStatus", "FeeLine", "FeeSchedule"]

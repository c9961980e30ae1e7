from .audit import AuditEvent
from .base import PublicIdModel
from .events import EventHandled, OutboxEvent, RealtimeStream
from .notifications import Notification
from .tenancy import Location, Membership, Organization, Role, User
from .throttle import AuthThrottle

__all__ = [
    "AuditEvent",
    "AuthThrottle",
    "EventHandled",
    "Location",
    "Membership",
    "Notification",
    "Organization",
    "OutboxEvent",
    "PublicIdModel",
    "RealtimeStream",
    "Role",
    "User",
]

"""Domain event handlers and realtime streams of the clinic core, wired up at app ready.

Handlers register with ``@event_handler("event.name")`` from clinic.services.events and run
once per event in the Celery worker; streams register with ``clinic.realtime.stream_register``
and are served by the portal socket (snapshot first, then versioned changes).
"""

from clinic.realtime import stream_register
from clinic.services.notifications import STREAM, notifications_snapshot

stream_register(STREAM, snapshot=notifications_snapshot)

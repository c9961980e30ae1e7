"""The shared core of Tandem.

Organizations, locations, users and roles; sign-in and sessions; the audit log; domain
events (the transactional outbox) and realtime helpers; notifications; the portal shell.
Every other app builds on the scoping rule in ``clinic.tenancy``.
"""

"""Referrals (the work queue and their status) and insurance authorizations (units, expiry)."""

"""Patients: records, lifecycle, insurance, referrals, authorizations and documents."""

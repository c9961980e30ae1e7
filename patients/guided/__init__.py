"""Guided pre-registration: a staff tablet drives a patient tablet through intake in real time.

Owns the paired session (pairing codes, the patient device token, server-held drafts and
signatures, the JSON protocol over Channels) and writes the result into the patient record on
completion. docs/guided-session-protocol.md describes the protocol.
"""

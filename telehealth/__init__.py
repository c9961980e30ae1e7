"""Telehealth: video visits as an audited state machine."""

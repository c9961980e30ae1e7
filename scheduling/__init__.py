"""Scheduling: appointments, availability, recurring visits, waitlist and reminders."""

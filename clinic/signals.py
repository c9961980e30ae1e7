"""Hooks into Django's own auth machinery (the one place we react to framework signals)."""

"""Writes and workflows of the clinic core. Each module is one area; import from it directly."""

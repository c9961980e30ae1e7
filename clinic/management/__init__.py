"""Management commands of the clinic core."""

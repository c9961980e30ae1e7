"""Portal views of the clinic core, one module per area."""

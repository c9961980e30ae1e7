"""Portal forms: input shape and field-level messages; rules live in services."""

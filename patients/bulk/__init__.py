"""CSV import and export of patients (checked imports, background exports)."""

"""The patient record itself: registration, edits, the status lifecycle, notes, referring
physicians, technician assignments, the list and search, and the record's tabs."""

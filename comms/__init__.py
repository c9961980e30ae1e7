"""Communications: SMS, email and the patient timeline."""

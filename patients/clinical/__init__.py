"""A patient's insurance (payers, policies, cards) and medical history (diagnoses, studies)."""

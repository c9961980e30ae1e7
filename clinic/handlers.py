"""Domain event handlers of the clinic core, registered with clinic.services.events."""

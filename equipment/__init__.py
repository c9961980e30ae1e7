"""Equipment and resupply: devices, masks, delivery tickets and recurring supplies."""

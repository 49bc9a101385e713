"""Layer 1, the model as data: trial and prior specifications, effect measures, distributions."""

"""Layer 5, analyses: plain functions returning JSON-ready dicts, one per question a command answers."""

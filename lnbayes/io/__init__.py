"""Layer 3, files: trial files (TOML), atomic output files and provenance, the sweep cache."""

"""Layer 7, the command line: thin typer commands."""

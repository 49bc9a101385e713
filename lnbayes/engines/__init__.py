"""Layer 4, engines: the exact engine, dataset enumeration, prior grids, PyMC sampling and summaries of draws."""

"""Layer 2, priors: elicitation from clinical statements, effective sample size, prior-data conflict."""

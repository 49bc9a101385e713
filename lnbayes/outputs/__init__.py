"""Layer 6, outputs: tables, figures and the appendix; they format what they are given."""

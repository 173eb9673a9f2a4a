"""jobs tier."""

"""spark tier."""

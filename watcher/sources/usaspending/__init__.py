"""sources/usaspending."""

"""Sources: one module per public API, each turning API pages into normalized records."""

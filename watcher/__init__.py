"""watcher: a procurement watcher for DHS awards."""

__version__ = "0.1.0"

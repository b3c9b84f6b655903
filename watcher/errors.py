"""The watcher's exception hierarchy: every error a user can meet carries a hint on what to do."""

from __future__ import annotations


class WatcherError(Exception):
    """Base class; the CLI turns these into a message and an exit code."""

    exit_code = 1
    hint = ""

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{msg}\n  hint: {self.hint}" if self.hint else msg


class ConfigError(WatcherError):
    """The config or a seed file is invalid; the message names the file, line and key."""

    exit_code = 2


class SourceError(WatcherError):
    """A source answered with something we cannot use (HTTP error, wrong shape, unused filter)."""


class RetryableSourceError(SourceError):
    """A transient failure (429, 5xx, timeout) that is worth retrying."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

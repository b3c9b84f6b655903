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


class SamKeyError(SourceError):
    """SAM.gov refused the API key (HTTP 401/403): it is missing, invalid or expired, never "no results"."""

    hint = "SAM.gov keys expire every 90 days: get a new one at https://sam.gov/profile/details and set SAM_API_KEY"


class SamQuotaError(SourceError):
    """SAM.gov's daily quota is spent (HTTP 429): no SAM request may be sent before ``next_access``."""

    def __init__(self, message: str, next_access: str | None) -> None:
        super().__init__(message)
        self.next_access = next_access


class BudgetSpent(SourceError):
    """Our own daily budget for SAM.gov requests is used up; the rest waits for the next UTC day."""


class ImpossibleAmount(SourceError):
    """An amount no federal award can carry (not finite, or past ``values.MAX_AMOUNT``): its row is refused.

    Raised at the edge, so such a number never reaches the database and every output formats
    money from finite Decimals only; the poll records a warning naming the award and goes on.
    """

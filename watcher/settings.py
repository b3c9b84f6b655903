"""The ``settings:`` block of queries.yaml: sources, e-mail, subscribers, alerts and the daemon's schedule.

Pydantic models with every key checked (``extra="forbid"``) and every value validated
with a message a researcher can act on; ``config.load_config`` turns a failure into an
error naming the file, line and key.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from email.utils import parseaddr
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from watcher.fpds import ModificationKind
from watcher.models import ChangeKind

#: SAM.gov notice types (Get Opportunities v2 `ptype`): u justification, p presolicitation, a award notice,
#: r sources sought, s special notice, o solicitation, k combined synopsis/solicitation, i intent to bundle.
NoticeType = Literal["u", "p", "a", "r", "s", "o", "k", "i"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsaspendingResponseCaps(Strict):
    """The largest answer (MB, decompressed) each USAspending endpoint may send; a larger one is cut off.

    Far above real pages (a 100-row search page is a few hundred KB, a 5,000-row transactions
    page a few MB), far below what would exhaust a small machine's memory.
    """

    search: float = Field(default=10, gt=0)  # spending_by_award and spending_by_transaction pages
    transactions: float = Field(default=50, gt=0)  # /api/v2/transactions/ (up to 5,000 actions a page)
    award: float = Field(default=5, gt=0)  # /api/v2/awards/<id>/ (one award's detail)
    other: float = Field(default=5, gt=0)  # agency autocompletes, counts


class UsaspendingSettings(Strict):
    page_size: int = Field(default=100, ge=1, le=100)
    min_interval_seconds: float = Field(default=0.5, ge=0)
    timeout_seconds: float = Field(default=60, gt=0)  # the longest wait for any one read
    # The longest one request may take, sending to last byte (a server trickling bytes never trips a read
    # timeout); default 3 x timeout_seconds. Past it the request is an error, not retried.
    deadline_seconds: float | None = Field(default=None, gt=0)
    attempts: int = Field(default=4, ge=1, le=10)
    max_response_mb: UsaspendingResponseCaps = UsaspendingResponseCaps()


class SamResponseCaps(Strict):
    """The largest answer (MB, decompressed) each SAM.gov API may send (a full page is 1-3 MB)."""

    contract_awards: float = Field(default=20, gt=0)  # 100 full records of about 11 KB
    opportunities: float = Field(default=30, gt=0)  # 1,000 notices of about 2 KB


class SamSettings(Strict):
    """SAM.gov: both SAM sources share one key (SAM_API_KEY) and one daily request budget."""

    daily_budget: int = Field(default=10, ge=1, le=100_000)  # requests per UTC day, both sources together
    refresh_hours: float = Field(default=20, gt=0, le=24 * 30)  # a query read this recently is not read again
    overlap_days: int = Field(default=3, ge=0, le=60)  # each window re-reads this many days of the last one
    # The longest window one walk reads (Opportunities refuses more than 364 days); a longer gap is read as
    # consecutive windows, oldest first, so a lapsed key loses no day.
    max_window_days: int = Field(default=60, ge=1, le=364)
    notice_types: list[NoticeType] = Field(default=["a", "u", "o", "k", "r", "p"], min_length=1)
    page_size: int = Field(default=100, ge=1, le=100)  # Contract Awards rows per page (the API's maximum)
    notice_page_size: int = Field(default=1000, ge=1, le=1000)  # Opportunities rows per page (maximum 1000)
    min_interval_seconds: float = Field(default=1.0, ge=0)
    timeout_seconds: float = Field(default=60, gt=0)
    deadline_seconds: float | None = Field(default=None, gt=0)  # as for usaspending: default 3 x timeout_seconds
    max_response_mb: SamResponseCaps = SamResponseCaps()
    key_expires: date | None = None  # the key's expiry date (SAM keys last 90 days): status warns 14 days ahead


# ---------------------------------------------------------------- email and subscribers

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def email_address(value: str) -> str:
    """One bare address; CR/LF or a display name here could smuggle headers into every digest."""
    name, addr = parseaddr(value)
    if any(c in value for c in "\r\n\0") or not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+", addr):
        raise ValueError(f"{value!r} is not an email address")
    if name or addr != value.strip():
        raise ValueError(f"{value!r}: give the bare address (like someone@example.org), without a name")
    return addr


def _from_address(value: str) -> str:
    """``Name <address>`` or a bare address."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError("line breaks are not allowed in an address")
    email_address(parseaddr(value)[1])
    return value


def _clock(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"{value!r}: use a 24-hour time like 07:00")
    return value


def _quiet(value: str) -> str:
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError(f"{value!r}: use a range like 22:00-07:00")
    for part in parts:
        _clock(part.strip())
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone name; use one like America/New_York or UTC") from None
    return value


def _weekday(value: str) -> str:
    v = value.strip().lower()
    for day in WEEKDAYS:
        if v in (day, day[:3]):
            return day
    raise ValueError(f"{value!r}: use a weekday name (monday ... sunday)")


def _apprise_env(value: str) -> str:
    if not re.fullmatch(r"WATCHER_APPRISE_[A-Z0-9_]+", value):
        raise ValueError(f"{value!r}: name an environment variable WATCHER_APPRISE_<NAME> holding the Apprise URLs")
    return value


def _unsubscribe(value: str) -> str:
    """A mailto: or http(s): link: it goes into every digest's List-Unsubscribe header and its HTML as a link.

    A line break there would break the header (the digest crashed), and ``javascript:`` would be
    a link that runs code in the reader's mail client.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("the link cannot hold control characters (line breaks, NUL)")
    if not re.fullmatch(r"(mailto:[^\s<>\"'\\`]+@[^\s<>\"'\\`]+|https?://[^\s<>\"'\\`]+)", value, re.IGNORECASE):
        raise ValueError(
            f"{value!r}: use a mailto: or https: link, like https://watch.example.org/unsubscribe?who={{subscriber}}"
        )
    return value


def _path(value: str) -> str:
    """A file or folder name: a NUL or a line break in one is a typo or an attack, and no OS path holds it."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r}: a path cannot hold control characters (NUL, line breaks)")
    return value


def _kind(value: object) -> ChangeKind | ModificationKind:
    """A change kind, or a kind of modification (option_exercised...); a typo gets the whole list."""
    for enum in (ChangeKind, ModificationKind):
        if value in {k.value for k in enum}:
            return enum(value)
    known = ", ".join([*ChangeKind, *ModificationKind])
    raise ValueError(f"{value!r} is not a kind of change; use one of {known}")


EmailAddress = Annotated[str, AfterValidator(email_address)]
PathText = Annotated[str, AfterValidator(_path)]
Clock = Annotated[str, AfterValidator(_clock)]


class Subscriber(Strict):
    """One person or list receiving digests: what they follow, how much matters, and when."""

    email: EmailAddress
    watches: list[str] = Field(default_factory=list)  # empty: every watch
    # Empty: every kind. A ModificationKind (option_exercised, terminated, novation...) picks the
    # new modifications whose FPDS action type is of that kind (digest/build.py select_changes).
    kinds: list[Annotated[ChangeKind | ModificationKind, BeforeValidator(_kind)]] = Field(default_factory=list)
    min_amount: Decimal | None = None  # only awards (or notices) at least this large
    min_change: Decimal | None = None  # only modifications that move at least this much money
    urgent_amount: Decimal | None = None  # a change this large goes out at once, whatever the cadence
    cadence: Literal["instant", "daily", "weekly"] = "daily"
    at: Clock = "07:00"
    day: Annotated[str, AfterValidator(_weekday)] = "monday"
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    quiet_hours: Annotated[str, AfterValidator(_quiet)] | None = None
    send_empty: bool = False
    max_items: int = Field(default=25, ge=1, le=500)
    # A "Coming up in the next N days" section (end, option and last order dates of the watched
    # awards, store/coming_up.py): 30, 90 or 180 are the usual choices; none (the default): no section.
    lookahead_days: int | None = Field(default=None, ge=1, le=366)
    # The name of an environment variable holding Apprise URLs (Slack, Matrix, Signal...), space- or
    # comma-separated: they embed tokens, so they never go in this file. Needs `pip install "watcher[apprise]"`.
    apprise_env: Annotated[str, AfterValidator(_apprise_env)] | None = None


class SmtpSettings(Strict):
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)  # default: 587 starttls, 465 ssl, 25 none
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None  # the password comes from WATCHER_SMTP_PASSWORD, never from this file
    timeout_seconds: float = Field(default=60, gt=0)


class EmailSettings(Strict):
    from_: Annotated[str, AfterValidator(_from_address)] = Field(default="watcher <watcher@localhost>", alias="from")
    smtp: SmtpSettings | None = None  # none: digests are written as .eml files to the outbox
    outbox: PathText = "outbox"
    unsubscribe: Annotated[str, AfterValidator(_unsubscribe)] | None = None  # mailto: or https:; default the sender
    backlog_days: int = Field(default=7, ge=0, le=3650)  # a new subscriber's first digest looks back this far


def _site_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s\"'<>]+", value):
        raise ValueError(f"{value!r}: use the site's absolute URL, like https://watch.example.org")
    return value.rstrip("/")


class AlertSettings(Strict):
    """Who hears when a source breaks, recovers or goes quiet (see health.py)."""

    admins: list[EmailAddress] = Field(default_factory=list)  # empty: no alerts
    after_failures: int = Field(default=3, ge=1, le=1000)  # consecutive failed runs before "broken"
    quiet_days: int | None = Field(default=14, ge=1, le=3650)  # nothing new for this long: "quiet"


def cron_fields(value: str) -> dict[str, str]:
    """A cron line as APScheduler fields: 5 fields (minute hour day month weekday) or 6 with seconds first.

    Weekdays must be names (mon-fri): APScheduler 3 counts them from Monday=0, so a digit
    would silently mean another day than it does in crontab(5).
    """
    parts = value.split()
    if len(parts) not in (5, 6):
        raise ValueError(f"{value!r}: use 5 cron fields (minute hour day month weekday), or 6 with seconds first")
    if any(c.isdigit() for c in parts[-1]):
        raise ValueError(f"{value!r}: write weekdays as names (mon, tue-fri), not digits")
    names = ["minute", "hour", "day", "month", "day_of_week"]
    fields = dict(zip(["second", *names] if len(parts) == 6 else names, parts, strict=True))
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger(**fields, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    return fields


def _cron(value: str) -> str:
    cron_fields(value)
    return value


Cron = Annotated[str, AfterValidator(_cron)]


class ScheduleSettings(Strict):
    """What `watcher daemon` runs when (cron lines in `timezone`); null turns a job off."""

    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    poll: Cron | None = "15 * * * *"
    site: Cron | None = "25 * * * *"  # incremental
    site_full: Cron | None = "40 3 * * *"
    digest: Cron | None = "*/15 * * * *"
    site_dir: PathText = "site"  # relative to queries.yaml
    misfire_grace_seconds: int = Field(default=3600, ge=1)
    # A poll still running after this long is stopped (its process killed: the watch run in progress rolls
    # back and is recorded as an error); each request is bounded too (deadline_seconds). null: no limit.
    poll_deadline_seconds: int | None = Field(default=3600, ge=1)


# ---------------------------------------------------------------- publishing the site


def _destination(value: str) -> str:
    """Where rsync or git sends the site: one starting with ``-`` would be read as an option of theirs."""
    _path(value)
    if not value.strip():
        raise ValueError("give a folder (/var/www/watch, user@host:/var/www/watch) or a repository")
    if value.lstrip().startswith("-"):
        raise ValueError(f"{value!r}: cannot start with '-' (rsync and git would read it as an option)")
    return value.strip()


def _branch(value: str) -> str:
    """A branch name git accepts (git-check-ref-format), checked here so a typo fails at `watcher check`."""
    bad = (
        not re.fullmatch(r"[A-Za-z0-9._/-]+", value)
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".." in value
        or "//" in value
        or "/." in value
    )
    if bad:
        raise ValueError(f"{value!r} is not a branch name git accepts; use one like gh-pages")
    return value


Destination = Annotated[str, AfterValidator(_destination)]


class RsyncPublish(Strict):
    """A plain folder served by a web server: local (/var/www/watch) or remote (user@host:/var/www/watch)."""

    dest: Destination
    # The remote shell rsync runs (its -e), like "ssh -p 2222 -i /home/watch/.ssh/deploy"; default plain ssh.
    ssh: Annotated[str, AfterValidator(_path)] | None = None


class GitPublish(Strict):
    """A gh-pages-style branch: each publish commits the built site as the branch's only content and pushes."""

    repo: Destination  # a URL or a path; credentials belong in ssh keys or a git credential helper
    branch: Annotated[str, AfterValidator(_branch)] = "gh-pages"
    message: Annotated[str, AfterValidator(_path)] = "Publish the watcher site"
    author: Annotated[str, AfterValidator(_from_address)] = "watcher <watcher@localhost>"


class PublishSettings(Strict):
    """`watcher publish`: exactly one of rsync or git; `after_build` publishes after each site build too."""

    rsync: RsyncPublish | None = None
    git: GitPublish | None = None
    after_build: bool = True  # `watcher run` and the daemon publish after each site build

    @model_validator(mode="after")
    def _one_way(self) -> PublishSettings:
        if (self.rsync is None) == (self.git is None):
            raise ValueError("give exactly one of rsync: {dest: ...} or git: {repo: ..., branch: ...}")
        return self


class Settings(Strict):
    usaspending: UsaspendingSettings = UsaspendingSettings()
    sam: SamSettings = SamSettings()
    alerts: AlertSettings = AlertSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    seeds_dir: PathText | None = None
    # Your own vendors file, an overlay on the shipped vendor map (vendorfile.py); default ./vendors.yaml
    # beside queries.yaml when it exists. Relative to queries.yaml's folder.
    vendors_file: PathText | None = None
    # The versions of each record's raw answers kept (the latest; an answer is stored once per distinct
    # content): a record that changes at every poll keeps this many, not one per poll. At least 1.
    raw_versions_kept: int = Field(default=3, ge=1, le=1000)
    site_url: Annotated[str, AfterValidator(_site_url)] | None = None
    publish: PublishSettings | None = None  # where `watcher publish` sends the built site (rsync or git)
    templates_dir: PathText | None = None  # user templates (email/digest.html ...); default ./templates
    email: EmailSettings = EmailSettings()

"""Load and validate queries.yaml and the seed files into typed, resolved watches.

Unknown keys and bad values are errors that name the file, the line and the key:
the people editing queries.yaml are researchers, not programmers.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from watcher import yamlpos
from watcher.errors import ConfigError
from watcher.models import ChangeKind, SourceName

AwardType = Literal["contracts", "idvs"]
AgencyRole = Literal["awarding", "funding"]
#: SAM.gov notice types (Get Opportunities v2 `ptype`): u justification, p presolicitation, a award notice,
#: r sources sought, s special notice, o solicitation, k combined synopsis/solicitation, i intent to bundle.
NoticeType = Literal["u", "p", "a", "r", "s", "o", "k", "i"]

#: USAspending award type codes per group; one group per spending_by_award request.
AWARD_TYPE_CODES: dict[str, list[str]] = {
    "contracts": ["A", "B", "C", "D"],
    "idvs": ["IDV_A", "IDV_B", "IDV_B_A", "IDV_B_B", "IDV_B_C", "IDV_C", "IDV_D", "IDV_E"],
}


def _search_term(term: str) -> str:
    if len(term.strip()) < 3:
        raise ValueError(f"{term!r} is too short: USAspending rejects search terms under 3 characters")
    return term


#: A keyword or mention, sent to USAspending's ``keywords`` filter.
SearchTerm = Annotated[str, AfterValidator(_search_term)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- seeds


class Agency(Strict):
    name: str = Field(min_length=1)
    tier: Literal["toptier", "subtier"] = "subtier"
    abbreviation: str | None = None
    code: str | None = None
    toptier_name: str | None = None
    department_code: str | None = None  # FPDS/SAM.gov 4-character department code (DHS: 7000), for toptiers

    def sam_department(self) -> str | None:
        """The FPDS department code SAM.gov filters on: a component's code starts with its department's two digits."""
        if self.department_code:
            return self.department_code
        if self.tier == "subtier" and self.code and len(self.code) == 4:
            return self.code[:2] + "00"
        return None


class Evidenced(Strict):
    uei: str = Field(pattern=r"^[A-Z0-9]{12}$")
    name: str | None = None
    evidence: str = Field(min_length=1)


class Vendor(Strict):
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    ueis: list[Evidenced] = Field(default_factory=list)
    parent_ueis: list[Evidenced] = Field(default_factory=list)
    mentions: list[SearchTerm] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)


class Reseller(Strict):
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    ueis: list[Evidenced] = Field(default_factory=list)
    vendors: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)


class AgencySeeds(Strict):
    agencies: dict[str, Agency]


class VendorSeeds(Strict):
    vendors: dict[str, Vendor]
    resellers: dict[str, Reseller] = Field(default_factory=dict)


# ---------------------------------------------------------------- queries.yaml


class InlineVendor(Vendor):
    key: str | None = None


class WatchSpec(Strict):
    description: str = ""
    agencies: list[str | Agency] = Field(min_length=1)
    agency_roles: list[AgencyRole] = Field(default=["awarding", "funding"], min_length=1)
    vendors: list[str | InlineVendor] = Field(default_factory=list)
    keywords: list[SearchTerm] = Field(default_factory=list)
    award_types: list[AwardType] = Field(default=["contracts", "idvs"], min_length=1)
    lookback_days: int = Field(default=30, ge=1, le=3650)
    min_amount: Decimal | None = None  # None: no threshold (awards with negative totals included)
    sources: list[SourceName] = Field(default=[SourceName.USASPENDING], min_length=1)
    # SAM.gov notices: "matched" keeps the watched agencies' notices that name a vendor or keyword (or announce
    # an award the watch holds); "all" keeps every notice of the watched agencies.
    notices: Literal["matched", "all"] = "matched"
    # SAM.gov Contract Awards queries: "agencies" reads each watched agency whole (per role) and matches here
    # (complete: catches resellers and mentions); "vendors" asks for the vendors' UEIs, parent UEIs and one
    # free-text query per mention or keyword across the agencies' departments.
    sam_queries: Literal["agencies", "vendors"] = "agencies"


class UsaspendingSettings(Strict):
    page_size: int = Field(default=100, ge=1, le=100)
    min_interval_seconds: float = Field(default=0.5, ge=0)
    timeout_seconds: float = Field(default=60, gt=0)
    attempts: int = Field(default=4, ge=1, le=10)


class SamSettings(Strict):
    """SAM.gov: both SAM sources share one key (SAM_API_KEY) and one daily request budget."""

    daily_budget: int = Field(default=10, ge=1, le=100_000)  # requests per UTC day, both sources together
    refresh_hours: float = Field(default=20, gt=0, le=24 * 30)  # a query read this recently is not read again
    overlap_days: int = Field(default=3, ge=0, le=60)  # each window re-reads this many days of the last one
    max_window_days: int = Field(default=60, ge=1, le=364)  # the furthest back a catch-up window reaches
    notice_types: list[NoticeType] = Field(default=["a", "u", "o", "k", "r", "p"], min_length=1)
    page_size: int = Field(default=100, ge=1, le=100)  # Contract Awards rows per page (the API's maximum)
    notice_page_size: int = Field(default=1000, ge=1, le=1000)  # Opportunities rows per page (maximum 1000)
    min_interval_seconds: float = Field(default=1.0, ge=0)
    timeout_seconds: float = Field(default=60, gt=0)
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


EmailAddress = Annotated[str, AfterValidator(email_address)]
Clock = Annotated[str, AfterValidator(_clock)]


class Subscriber(Strict):
    """One person or list receiving digests: what they follow, how much matters, and when."""

    email: EmailAddress
    watches: list[str] = Field(default_factory=list)  # empty: every watch
    kinds: list[ChangeKind] = Field(default_factory=list)  # empty: every kind
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
    outbox: str = "outbox"
    unsubscribe: str | None = None  # mailto: or https: URL; default mailto the sender
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
    site_dir: str = "site"  # relative to queries.yaml
    misfire_grace_seconds: int = Field(default=3600, ge=1)


class Settings(Strict):
    usaspending: UsaspendingSettings = UsaspendingSettings()
    sam: SamSettings = SamSettings()
    alerts: AlertSettings = AlertSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    seeds_dir: str | None = None
    site_url: Annotated[str, AfterValidator(_site_url)] | None = None
    templates_dir: str | None = None  # user templates (email/digest.html ...); default ./templates
    email: EmailSettings = EmailSettings()


class QueriesFile(Strict):
    settings: Settings = Settings()
    watches: dict[str, WatchSpec] = Field(min_length=1)
    subscribers: dict[str, Subscriber] = Field(default_factory=dict)

    @field_validator("watches", "subscribers")
    @classmethod
    def _names(cls, v: dict[str, Any], info: Any) -> dict[str, Any]:
        """Names end up in file names, List-Id headers and URLs: keep them plain."""
        what = "watch" if info.field_name == "watches" else "subscriber"
        for name in v:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
                raise ValueError(f"{what} name {name!r} must be letters, digits, '-', '_' or '.'")
        return v


# ---------------------------------------------------------------- resolved config


class Watch(BaseModel):
    """A watch with its agency and vendor keys resolved against the seeds."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    agencies: tuple[Agency, ...]
    agency_roles: tuple[str, ...]
    vendors: dict[str, Vendor]
    keywords: tuple[str, ...]
    award_types: tuple[str, ...]
    lookback_days: int
    min_amount: Decimal | None
    sources: tuple[str, ...]
    notices: str = "matched"
    sam_queries: str = "agencies"


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    root: Path  # relative paths in settings (site, outbox, templates) resolve against this folder
    settings: Settings
    watches: dict[str, Watch]
    agencies: dict[str, Agency]
    vendors: dict[str, Vendor]
    resellers: dict[str, Reseller]
    subscribers: dict[str, Subscriber] = Field(default_factory=dict)

    def templates_dir(self) -> Path:
        d = Path(self.settings.templates_dir or "templates")
        return d if d.is_absolute() else self.root / d

    def site_dir(self) -> Path:
        d = Path(self.settings.schedule.site_dir)
        return d if d.is_absolute() else self.root / d

    def outbox(self) -> Path:
        d = Path(self.settings.email.outbox)
        return d if d.is_absolute() else self.root / d


def _validate(model: type[BaseModel], doc: yamlpos.Located) -> Any:
    if doc.data is None:
        raise doc.error((), "the file is empty")
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise doc.error(loc, msg + suffix) from None


def default_seeds_dir() -> Path:
    """The seeds shipped with the package (wheel) or next to it (source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "seeds", here.parent / "seeds"):
        if (candidate / "vendors.yaml").exists():
            return candidate
    raise ConfigError(f"no seeds directory found next to {here}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def load_config(path: Path, root: Path | None = None) -> Config:
    """Parse queries.yaml and the seeds it names; resolve every key or raise ConfigError.

    ``root`` is where the relative paths in its settings point (default: the file's folder;
    the starter config shipped in the package points them at the current folder instead).
    """
    doc = yamlpos.load(path)
    spec: QueriesFile = _validate(QueriesFile, doc)
    seeds = Path(spec.settings.seeds_dir) if spec.settings.seeds_dir else None
    if seeds is not None and not seeds.is_absolute():
        seeds = path.parent / seeds
    if seeds is None:
        seeds = path.parent / "seeds" if (path.parent / "seeds/vendors.yaml").exists() else None
    seeds = seeds or default_seeds_dir()
    agency_doc = yamlpos.load(seeds / "agencies.yaml")
    vendor_doc = yamlpos.load(seeds / "vendors.yaml")
    agencies: AgencySeeds = _validate(AgencySeeds, agency_doc)
    vendor_seeds: VendorSeeds = _validate(VendorSeeds, vendor_doc)
    for key, reseller in vendor_seeds.resellers.items():
        for i, vkey in enumerate(reseller.vendors):
            if vkey not in vendor_seeds.vendors:
                raise vendor_doc.error(("resellers", key, "vendors", i), f"unknown vendor {vkey!r}")

    by_name = {a.name: a for a in agencies.agencies.values()}
    watches: dict[str, Watch] = {}
    for wname, w in spec.watches.items():
        resolved_agencies: list[Agency] = []
        for i, a in enumerate(w.agencies):
            if isinstance(a, Agency):
                resolved_agencies.append(a)
            elif a in agencies.agencies:
                resolved_agencies.append(agencies.agencies[a])
            elif a in by_name:
                resolved_agencies.append(by_name[a])
            else:
                known = ", ".join(agencies.agencies)
                raise doc.error(
                    ("watches", wname, "agencies", i),
                    f"unknown agency {a!r}; use a key from {seeds / 'agencies.yaml'} ({known}) "
                    "or {name: <exact USAspending agency name>, tier: subtier|toptier}",
                )
        vendors: dict[str, Vendor] = {}
        for i, v in enumerate(w.vendors):
            if isinstance(v, InlineVendor):
                key = v.key or _slug(v.name)
                vendors[key] = Vendor(**v.model_dump(exclude={"key"}))
            elif v in vendor_seeds.vendors:
                vendors[v] = vendor_seeds.vendors[v]
            else:
                known = ", ".join(vendor_seeds.vendors)
                raise doc.error(
                    ("watches", wname, "vendors", i),
                    f"unknown vendor {v!r}; use a key from {seeds / 'vendors.yaml'} ({known}) "
                    "or an inline {name, aliases, ueis, mentions}",
                )
        if not vendors and not w.keywords:
            raise doc.error(("watches", wname), "a watch needs at least one vendor or keyword")
        watches[wname] = Watch(
            name=wname,
            description=w.description,
            agencies=tuple(resolved_agencies),
            agency_roles=tuple(dict.fromkeys(w.agency_roles)),
            vendors=vendors,
            keywords=tuple(w.keywords),
            award_types=tuple(dict.fromkeys(w.award_types)),
            lookback_days=w.lookback_days,
            min_amount=w.min_amount,
            sources=tuple(dict.fromkeys(w.sources)),
            notices=w.notices,
            sam_queries=w.sam_queries,
        )
    for sname, sub in spec.subscribers.items():
        for i, wname in enumerate(sub.watches):
            if wname not in watches:
                raise doc.error(
                    ("subscribers", sname, "watches", i), f"no watch named {wname!r} (have: {', '.join(watches)})"
                )
    return Config(
        path=path,
        root=root or path.parent,
        settings=spec.settings,
        subscribers=dict(spec.subscribers),
        watches=watches,
        agencies=dict(agencies.agencies),
        vendors=dict(vendor_seeds.vendors),
        resellers=dict(vendor_seeds.resellers),
    )

"""Load and validate queries.yaml and the seed files into typed, resolved watches.

Unknown keys and bad values are errors that name the file, the line and the key:
the people editing queries.yaml are researchers, not programmers.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from watcher import vendorfile, yamlpos
from watcher.errors import ConfigError
from watcher.models import SourceName
from watcher.settings import Settings, Strict, Subscriber

AwardType = Literal["contracts", "idvs"]
AgencyRole = Literal["awarding", "funding"]

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

#: Characters SAM.gov Contract Awards refuses in any search value, ``q`` included: HTTP 400 (docs/api/sam.md 2.3).
SAM_FORBIDDEN = "&|{}^\\"


def sam_term_problem(term: str) -> str | None:
    """Why SAM.gov Contract Awards would refuse ``term`` as its ``q`` search, or None when it would take it."""
    bad = [c for c in SAM_FORBIDDEN if c in term]
    if not bad:
        return None
    return f"{term.strip()!r} has {', '.join(map(repr, bad))}, which SAM.gov Contract Awards refuses in a search"


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


class Vehicle(Strict):
    """One of a vendor's own contract vehicles (an IDV or BPA), with the real record that shows it.

    Its orders carry it in their award ids (``CONT_AWD_<order>_<agency>_<piid>_<agency of the vehicle>``),
    and USAspending lists them under the vehicle's own id, ``CONT_IDV_<piid>_<agency>``.
    """

    piid: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{3,49}$")  # as it appears in award ids: upper case, no spaces
    agency: str = Field(pattern=r"^[A-Z0-9]{4}$")  # the code of the agency that awarded the vehicle, e.g. 7001
    name: str | None = None
    evidence: str = Field(min_length=1)


class Vendor(Strict):
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    ueis: list[Evidenced] = Field(default_factory=list)
    parent_ueis: list[Evidenced] = Field(default_factory=list)
    mentions: list[SearchTerm] = Field(default_factory=list)
    # Orders under these match with reason "vehicle", even when their own text names nobody.
    vehicles: list[Vehicle] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)


class Reseller(Strict):
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    ueis: list[Evidenced] = Field(default_factory=list)
    vendors: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)


class OverlayVendor(Vendor):
    """A vendor in the user's own vendors file: a new one needs a name; one extending a shipped key need not."""

    name: str | None = Field(default=None, min_length=1)  # type: ignore[assignment]


class OverlayReseller(Reseller):
    name: str | None = Field(default=None, min_length=1)  # type: ignore[assignment]


class OverlaySeeds(Strict):
    vendors: dict[str, OverlayVendor] = Field(default_factory=dict)
    resellers: dict[str, OverlayReseller] = Field(default_factory=dict)


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
    seeds_file: Path | None = None  # the shipped (or settings.seeds_dir) vendors.yaml
    vendors_file: Path | None = None  # the user's overlay (vendorfile.py), when there is one
    #: "vendors.<key>" / "resellers.<key>" -> shipped | yours | shipped + yours
    origins: dict[str, str] = Field(default_factory=dict)

    def origin(self, section: str, key: str) -> str:
        """Where a vendor or reseller definition comes from, in words, with the file(s): for `watcher check`."""
        where = self.origins.get(f"{section}.{key}", vendorfile.SHIPPED)
        files = {
            vendorfile.SHIPPED: [self.seeds_file],
            vendorfile.YOURS: [self.vendors_file],
            vendorfile.BOTH: [self.seeds_file, self.vendors_file],
        }[where]
        return f"{where} ({', '.join(str(f) for f in files if f)})"

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
        # A value that may be one of several shapes (a vendor key or an inline vendor) fails once per
        # shape; the error that reached deepest into the value is the one the person meant to fix.
        located = [(_in_data(doc.data, e["loc"], e["type"] == "missing"), e) for e in exc.errors()]
        loc, err = max(located, key=lambda pair: len(pair[0]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        paths = {path for path, _ in located}
        # One mistake per innermost place: a shape that failed higher up (a key, not an inline vendor) is no other.
        more = sum(1 for p in paths if not any(q != p and q[: len(p)] == p for q in paths)) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise doc.error(loc, msg + suffix) from None


def _in_data(data: Any, loc: tuple[Any, ...], missing: bool) -> tuple[Any, ...]:
    """An error's location as a path through the YAML itself: the parts pydantic adds (the name of the
    shape it tried, like ``str`` or ``InlineVendor``, or ``function-after[...]``) are dropped; a missing
    key (``missing``: the error is that it is absent) ends the path."""
    path: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_list or (isinstance(node, dict) and part in node):
            node = node[part]
        elif missing and i == len(loc) - 1:
            node = None
        elif isinstance(part, str):
            continue  # a shape's name, not a key of the file
        path.append(part)
    return tuple(path)


def default_seeds_dir() -> Path:
    """The seeds shipped with the package (wheel) or next to it (source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "seeds", here.parent / "seeds"):
        if (candidate / "vendors.yaml").exists():
            return candidate
    raise ConfigError(f"no seeds directory found next to {here}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _check_sam_terms(
    doc: yamlpos.Located,
    vendor_doc: yamlpos.Located,
    spec: QueriesFile,
    seeds: VendorSeeds,
    overlay: yamlpos.Located | None = None,
) -> None:
    """Refuse a keyword or mention that a watch would send to SAM.gov Contract Awards as ``q`` and it would refuse.

    Only watches with ``sam_awards`` in their sources and ``sam_queries: vendors`` send their
    terms there (one ``q`` query each, sources/sam/awards.py); elsewhere the same text is fine
    (USAspending's keyword search and our own matching take it). The error points at the term
    itself: in queries.yaml, or in the seeds' vendors.yaml for a vendor given by key.
    """
    for wname, w in spec.watches.items():
        if SourceName.SAM_AWARDS not in w.sources or w.sam_queries != "vendors":
            continue
        why = (
            f" (HTTP 400), and watch {wname!r} sends it there (sources: sam_awards, sam_queries: vendors):"
            " leave out & | { } ^ \\ (write AND for &)"
        )
        for i, term in enumerate(w.keywords):
            if problem := sam_term_problem(term):
                raise doc.error(("watches", wname, "keywords", i), problem + why)
        for i, v in enumerate(w.vendors):
            loc: yamlpos.Path_
            if isinstance(v, InlineVendor):
                where, loc, mentions = doc, ("watches", wname, "vendors", i), v.mentions
            elif v in seeds.vendors:
                where, loc, mentions = vendor_doc, ("vendors", v), seeds.vendors[v].mentions
            else:
                continue  # an unknown vendor key: reported below, where vendors are resolved
            for j, term in enumerate(mentions):
                if problem := sam_term_problem(term):
                    mine = ((overlay.data.get("vendors") or {}).get(v) or {}) if overlay and where is vendor_doc else {}
                    if term in (mine.get("mentions") or []):  # the term came from the user's vendors file
                        where, j = overlay, mine["mentions"].index(term)  # type: ignore[assignment]
                    raise where.error((*loc, "mentions", j), problem + why)


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
    _validate(VendorSeeds, vendor_doc)
    overlay_path = vendorfile.locate(root or path.parent, spec.settings.vendors_file)
    overlay = _load_overlay(doc, overlay_path, vendor_doc) if overlay_path else None
    merged, origins = vendorfile.merge(vendor_doc.data, overlay.data if overlay else None)
    vendor_seeds: VendorSeeds = _validate(VendorSeeds, yamlpos.Located(vendor_doc.path, merged, vendor_doc.lines))
    for key, reseller in vendor_seeds.resellers.items():
        for i, vkey in enumerate(reseller.vendors):
            if vkey not in vendor_seeds.vendors:
                where = overlay if overlay and origins[f"resellers.{key}"] != vendorfile.SHIPPED else vendor_doc
                raise where.error(("resellers", key, "vendors", i), f"unknown vendor {vkey!r}")

    _check_sam_terms(doc, vendor_doc, spec, vendor_seeds, overlay)
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
                mine = f" or {overlay_path}" if overlay_path else f", your own {vendorfile.OVERLAY_FILE}"
                raise doc.error(
                    ("watches", wname, "vendors", i),
                    f"unknown vendor {v!r}; use a key from {seeds / 'vendors.yaml'}{mine} ({known}) "
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
        seeds_file=vendor_doc.path,
        vendors_file=overlay_path,
        origins=origins,
    )


def _load_overlay(doc: yamlpos.Located, path: Path, seeds: yamlpos.Located) -> yamlpos.Located | None:
    """The user's vendors file, checked on its own (its errors name its own lines): None when it is empty."""
    if not path.is_file():
        raise doc.error(("settings", "vendors_file"), f"{path}: no such file")
    overlay = yamlpos.load(path)
    if overlay.data is None:
        return None
    _validate(OverlaySeeds, overlay)
    shipped = seeds.data if isinstance(seeds.data, dict) else {}
    for section in vendorfile.SECTIONS:
        for key, entry in (overlay.data.get(section) or {}).items():
            if key not in (shipped.get(section) or {}) and not (entry or {}).get("name"):
                what = section[:-1]
                raise overlay.error((section, key), f"a new {what} needs a name (no shipped {what} is called {key!r})")
    return overlay

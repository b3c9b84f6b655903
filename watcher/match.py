"""Vendor resolution: decide, with evidence, why an award belongs to a watch (pure functions).

A vendor matches an award through its recipient UEI, its recipient name (an alias),
its parent (UEI or alias), a mention of the vendor's products in a description
(the award's or any of its transactions'), or because the award is an order under one
of the vendor's own contract vehicles (its award id names the vehicle). Mentions are
matched as whole words, so "AWS" never fires inside "LAWS". When the recipient is a
known reseller of the vendor, the evidence says so.

Two rules concern people's decisions rather than the record: an order a reviewer
confirmed (the review queue, ``store/review.py``) matches with reason ``reviewed``; and
an order from a known reseller that matches nothing else is a candidate for that queue
(:meth:`Matcher.review_candidate`), never a match by itself.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from watcher.config import Reseller, Vehicle, Vendor, Watch
from watcher.models import Award, Match
from watcher.names import NORMALIZATION, name_variants, normalize_name


def _starts(norms: tuple[str, ...], aliases: Iterable[str]) -> str | None:
    """The alias that one of a name's normalized variants starts with (whole words), if any."""
    for alias in aliases:
        for norm in norms:
            if norm and alias and (norm == alias or norm.startswith(alias + " ")):
                return alias
    return None


def _phrase_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    parts = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not parts:
        return None
    alts = "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in parts)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alts})(?![A-Za-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class VendorMatcher:
    """One vendor's compiled patterns."""

    key: str
    vendor: Vendor
    aliases: tuple[str, ...]
    ueis: frozenset[str]
    parent_ueis: frozenset[str]
    mention_re: re.Pattern[str] | None
    vehicles: dict[tuple[str, str], Vehicle] = field(default_factory=dict)  # (PIID, agency code) -> vehicle

    def alias_of(self, norms: tuple[str, ...]) -> str | None:
        """The alias that a name's normalized variants (names.name_variants) start with (whole words), if any."""
        return _starts(norms, self.aliases)


def compile_vendor(key: str, vendor: Vendor) -> VendorMatcher:
    return VendorMatcher(
        key=key,
        vendor=vendor,
        aliases=tuple(normalize_name(a) for a in [vendor.name.upper(), *vendor.aliases]),
        ueis=frozenset(u.uei for u in vendor.ueis),
        parent_ueis=frozenset(u.uei for u in [*vendor.ueis, *vendor.parent_ueis]),
        mention_re=_phrase_pattern(vendor.mentions),
        vehicles={(v.piid, v.agency): v for v in vendor.vehicles},
    )


def mention_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """A vendor's mention words as one whole-word pattern (what the matcher searches descriptions with)."""
    return _phrase_pattern(terms)


def vehicle_ref(award_key: str) -> tuple[tuple[str, str], bool] | None:
    """The contract vehicle an award id names: ((PIID, agency code), whether the award is the vehicle itself).

    An order's id ends with its vehicle (``CONT_AWD_<piid>_<agency>_<vehicle PIID>_<vehicle agency>``);
    an IDV's id is the vehicle (``CONT_IDV_<piid>_<agency>``). None for an award under no vehicle.
    """
    key = award_key.upper()
    if key.startswith("CONT_AWD_"):
        parts = key[len("CONT_AWD_") :].rsplit("_", 3)
        if len(parts) == 4 and "-NONE-" not in (parts[2], parts[3]):
            return (parts[2], parts[3]), False
    elif key.startswith("CONT_IDV_"):
        piid, _, agency = key[len("CONT_IDV_") :].rpartition("_")
        if piid and agency:
            return (piid, agency), True
    return None


def _vehicle_evidence(vm: VendorMatcher, v: Vehicle, itself: bool) -> str:
    name = vm.vendor.name
    what = f"{name}{chr(39) if name.endswith('s') else chr(39) + 's'} own contract vehicle {v.piid}"
    what += f" ({v.name})" if v.name else ""
    return f"{'is' if itself else 'an order under'} {what}; the vehicle: {v.evidence}"


@dataclass(frozen=True)
class ReviewDecision:
    """A reviewer's confirmation that a reseller order belongs to a watch (a row of ``review``)."""

    vendor: str  # the vendor the reviewer attributes it to ("" when they named none)
    by: str
    at: str  # UTC timestamp
    note: str
    recipient: str | None = None

    def evidence(self) -> str:
        """Who, when and why, in words: it is shown wherever the match is (digests, the site, exports)."""
        who = f"confirmed by {self.by} on {self.at[:10]} after review"
        order = f"a reseller order ({self.recipient})" if self.recipient else "a reseller order"
        return f"{order} {who}" + (f": {self.note}" if self.note else "")


def _snippet(text: str, m: re.Match[str], width: int = 60) -> str:
    start, end = max(0, m.start() - width), min(len(text), m.end() + width)
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def _where(label: str) -> str:
    return f" in {label}" if label else ""


def action_label(modification: str | None) -> str:
    """Where an action's text is, for evidence: "the base action" or "modification P00007"."""
    mod = (modification or "").strip()
    return "the base action" if mod in ("", "0") else f"modification {mod}"


@dataclass(frozen=True)
class Matcher:
    """Everything needed to match awards for one watch, compiled once per run."""

    watch: Watch
    vendors: tuple[VendorMatcher, ...]
    resellers: tuple[tuple[str, Reseller, tuple[str, ...]], ...]
    keyword_re: re.Pattern[str] | None
    reviewed: dict[str, ReviewDecision] = field(default_factory=dict, compare=False)  # award key -> confirmation
    # name -> ({vendor: alias}, {vendor: reseller}); a few hundred distinct recipients cover a whole poll
    _names: dict[str | None, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict, compare=False)

    def _resolve(self, name: str | None) -> tuple[dict[str, str], dict[str, str]]:
        hit = self._names.get(name)
        if hit is None:
            norms = name_variants(name)
            aliases = {vm.key: a for vm in self.vendors if (a := vm.alias_of(norms))}
            resellers = {vm.key: r for vm in self.vendors if (r := self.reseller_of(norms, vm.key))}
            if len(self._names) > 50_000:
                self._names.clear()
            hit = self._names[name] = (aliases, resellers)
        return hit

    def reseller_of(self, norms: tuple[str, ...], vendor_key: str) -> str | None:
        """The known reseller of ``vendor_key`` that a recipient (its normalized variants) is, if any."""
        for _key, reseller, aliases in self.resellers:
            if vendor_key in reseller.vendors and _starts(norms, aliases):
                return reseller.name
        return None

    def review_resellers(self) -> tuple[tuple[str, Reseller, tuple[str, ...]], ...]:
        """The known resellers whose orders this watch queues for review: those seen carrying one of the
        watch's vendors, and those not seen carrying any vendor in particular (``vendors: []``)."""
        if not self.vendors:
            return ()
        mine = {vm.key for vm in self.vendors}
        return tuple(r for r in self.resellers if not r[1].vendors or mine & set(r[1].vendors))

    def review_candidate(self, award: Award) -> str | None:
        """The reseller (its key) whose order this is, when an order the watch does not match belongs in
        the review queue: a contract (not an IDV) to a known reseller, at or above the watch's threshold.

        Call it only for awards that ``match`` rejected: a reseller order naming a product is a match.
        """
        if award.category == "idv" or award.award_key.upper().startswith("CONT_IDV_"):
            return None
        if self.watch.min_amount is not None and (award.total_obligation or Decimal(0)) < self.watch.min_amount:
            return None
        norms = name_variants(award.recipient_name)
        for key, _reseller, aliases in self.review_resellers():
            if _starts(norms, aliases):
                return key
        return None

    def match(
        self, award: Award, texts: Iterable[str | tuple[str, str | None] | None] = (), *, min_amount: bool = True
    ) -> list[Match]:
        """Every reason the award belongs to the watch; empty when it does not.

        ``texts`` are its other descriptions (its actions'), each bare or as ``(where, text)``:
        a mention found in a labelled text says where ("in modification P00007"), since a
        reader checking the evidence must find the words in the record.
        ``min_amount=False`` skips the watch's amount threshold (a notice of a coming buy has no amount yet).
        """
        if min_amount and self.watch.min_amount is not None:
            amount = award.total_obligation if award.total_obligation is not None else Decimal(0)
            if amount < self.watch.min_amount:
                return []
        descriptions: list[tuple[str, str]] = [("", award.description)] if award.description else []
        for t in texts:
            where, text = t if isinstance(t, tuple) else ("", t)
            if text:
                descriptions.append((where, text))
        recipient_aliases, resellers = self._resolve(award.recipient_name)
        parent_aliases = self._resolve(award.parent_name)[0] if award.parent_name else {}
        vehicle = vehicle_ref(award.award_key)
        found: list[Match] = []
        for vm in self.vendors:
            if award.recipient_uei and award.recipient_uei in vm.ueis:
                found.append(Match(vm.key, "uei", f"recipient UEI {award.recipient_uei} ({award.recipient_name})"))
            alias = recipient_aliases.get(vm.key)
            if alias:
                evidence = f"recipient {award.recipient_name!r} matches {vm.vendor.name} alias {alias!r}"
                found.append(Match(vm.key, "recipient", evidence))
            if award.parent_uei and award.parent_uei in vm.parent_ueis:
                found.append(Match(vm.key, "parent", f"parent UEI {award.parent_uei} ({award.parent_name})"))
            elif (p_alias := parent_aliases.get(vm.key)) and not alias:
                found.append(
                    Match(vm.key, "parent", f"parent {award.parent_name!r} matches {vm.vendor.name} alias {p_alias!r}")
                )
            if vm.mention_re is not None:
                for where, text in descriptions:
                    m = vm.mention_re.search(text)
                    if m:
                        evidence = f"mentions {m.group(0)!r}{_where(where)}: {_snippet(text, m)}"
                        reseller = resellers.get(vm.key)
                        if reseller:
                            evidence += f" (recipient is {reseller}, a known {vm.vendor.name} reseller)"
                        found.append(Match(vm.key, "mention", evidence))
                        break
            if vehicle is not None and (v := vm.vehicles.get(vehicle[0])) is not None:
                found.append(Match(vm.key, "vehicle", _vehicle_evidence(vm, v, vehicle[1])))
        if self.keyword_re is not None:
            for where, text in descriptions:
                m = self.keyword_re.search(text)
                if m:
                    found.append(Match("", "keyword", f"mentions {m.group(0)!r}{_where(where)}: {_snippet(text, m)}"))
                    break
        decision = self.reviewed.get(award.award_key)
        if decision is not None:
            found.append(Match(decision.vendor, "reviewed", decision.evidence()))
        return found


def signature(watch: Watch, resellers: dict[str, Reseller]) -> str:
    """A hash of everything that decides matches: when it changes, stored verdicts are stale."""
    rules = {
        "vendors": {k: v.model_dump(mode="json") for k, v in watch.vendors.items()},
        "keywords": list(watch.keywords),
        "min_amount": None if watch.min_amount is None else str(watch.min_amount),
        "resellers": {k: r.model_dump(mode="json", exclude={"evidence"}) for k, r in resellers.items()},
        "names": NORMALIZATION,  # a new name normalization may match other recipients: judge again
    }
    return hashlib.sha1(json.dumps(rules, sort_keys=True).encode()).hexdigest()  # noqa: S324


def build_matcher(
    watch: Watch, resellers: dict[str, Reseller], reviewed: dict[str, ReviewDecision] | None = None
) -> Matcher:
    """The watch's compiled rules; ``reviewed`` holds the orders reviewers confirmed for it (by award key)."""
    return Matcher(
        watch=watch,
        vendors=tuple(compile_vendor(k, v) for k, v in watch.vendors.items()),
        resellers=tuple((k, r, tuple(normalize_name(a) for a in [r.name, *r.aliases])) for k, r in resellers.items()),
        keyword_re=_phrase_pattern(watch.keywords),
        reviewed=dict(reviewed or {}),
    )

"""Vendor resolution: decide, with evidence, why an award belongs to a watch (pure functions).

A vendor matches an award through its recipient UEI, its recipient name (an alias),
its parent (UEI or alias), or a mention of the vendor's products in a description
(the award's or any of its transactions'). Mentions are matched as whole words, so
"AWS" never fires inside "LAWS". When the recipient is a known reseller of the
vendor, the evidence says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from watcher.config import Reseller, Vendor, Watch
from watcher.models import Award, Match

_NON_WORD = re.compile(r"[^A-Z0-9]+")


def normalize_name(name: str | None) -> str:
    """Upper case, punctuation to spaces, whitespace collapsed: 'Palantir USG, Inc.' -> 'PALANTIR USG INC'."""
    return _NON_WORD.sub(" ", (name or "").upper()).strip()


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

    def alias_of(self, norm: str) -> str | None:
        """The alias that a normalized name starts with (whole words), if any."""
        if not norm:
            return None
        for alias in self.aliases:
            if norm == alias or norm.startswith(alias + " "):
                return alias
        return None


def compile_vendor(key: str, vendor: Vendor) -> VendorMatcher:
    return VendorMatcher(
        key=key,
        vendor=vendor,
        aliases=tuple(normalize_name(a) for a in [vendor.name.upper(), *vendor.aliases]),
        ueis=frozenset(u.uei for u in vendor.ueis),
        parent_ueis=frozenset(u.uei for u in [*vendor.ueis, *vendor.parent_ueis]),
        mention_re=_phrase_pattern(vendor.mentions),
    )


def mention_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """A vendor's mention words as one whole-word pattern (what the matcher searches descriptions with)."""
    return _phrase_pattern(terms)


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
    # name -> ({vendor: alias}, {vendor: reseller}); a few hundred distinct recipients cover a whole poll
    _names: dict[str | None, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict, compare=False)

    def _resolve(self, name: str | None) -> tuple[dict[str, str], dict[str, str]]:
        hit = self._names.get(name)
        if hit is None:
            norm = normalize_name(name)
            aliases = {vm.key: a for vm in self.vendors if (a := vm.alias_of(norm))}
            resellers = {vm.key: r for vm in self.vendors if (r := self.reseller_of(norm, vm.key))}
            if len(self._names) > 50_000:
                self._names.clear()
            hit = self._names[name] = (aliases, resellers)
        return hit

    def reseller_of(self, norm: str, vendor_key: str) -> str | None:
        """The known reseller of ``vendor_key`` that a normalized recipient name is, if any."""
        for _key, reseller, aliases in self.resellers:
            if vendor_key in reseller.vendors and any(norm == a or norm.startswith(a + " ") for a in aliases):
                return reseller.name
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
        if self.keyword_re is not None:
            for where, text in descriptions:
                m = self.keyword_re.search(text)
                if m:
                    found.append(Match("", "keyword", f"mentions {m.group(0)!r}{_where(where)}: {_snippet(text, m)}"))
                    break
        return found


def signature(watch: Watch, resellers: dict[str, Reseller]) -> str:
    """A hash of everything that decides matches: when it changes, stored verdicts are stale."""
    rules = {
        "vendors": {k: v.model_dump(mode="json") for k, v in watch.vendors.items()},
        "keywords": list(watch.keywords),
        "min_amount": None if watch.min_amount is None else str(watch.min_amount),
        "resellers": {k: r.model_dump(mode="json", exclude={"evidence"}) for k, r in resellers.items()},
    }
    return hashlib.sha1(json.dumps(rules, sort_keys=True).encode()).hexdigest()  # noqa: S324


def build_matcher(watch: Watch, resellers: dict[str, Reseller]) -> Matcher:
    return Matcher(
        watch=watch,
        vendors=tuple(compile_vendor(k, v) for k, v in watch.vendors.items()),
        resellers=tuple((k, r, tuple(normalize_name(a) for a in [r.name, *r.aliases])) for k, r in resellers.items()),
        keyword_re=_phrase_pattern(watch.keywords),
    )

"""Reading the store out for people: filtered CSV/JSON exports and one award's full timeline."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlite_utils import Database

from watcher.errors import ConfigError
from watcher.fpds import action_words
from watcher.values import MAX_AMOUNT, finite_amount, parse_utc
from watcher.words import clean, usd

#: Cells a spreadsheet would run as a formula; such text is written with a leading apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Money columns, written to CSV as exact cents ("86271599.30").
AMOUNTS = frozenset({"total_obligation", "potential_value", "obligation", "amount_delta", "award_amount"})


#: ``write_csv`` or ``write_json``: rows to a text stream, returning how many were written.
Writer = Callable[[Iterator[dict[str, Any]], IO[str]], int]


@dataclass(frozen=True)
class Filters:
    """What to export: every field is optional and narrows the rows."""

    watch: str | None = None
    vendor: str | None = None
    agency: str | None = None  # part of the awarding or funding component's name, or its abbreviation
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive

    def __post_init__(self) -> None:
        """A date that is none would compare as text and select nothing (or everything), silently."""
        for option, value in (("--since", self.since), ("--until", self.until)):
            if value is not None and not _is_iso(value):
                raise ConfigError(
                    f"{option} {value!r}: use a date like 2024-10-01 (or a timestamp like 2024-10-01T12:00:00Z)"
                )


def _is_iso(text: str) -> bool:
    try:
        date.fromisoformat(text) if len(text) == 10 else parse_utc(text)
    except ValueError:
        return False
    return True


# For each export: the query, and the column its date filter applies to.
EXPORTS: dict[str, tuple[str, str]] = {
    "awards": ("SELECT a.* FROM awards a", "a.last_modified_date"),
    "transactions": (
        "SELECT t.*, a.piid, a.recipient_name, a.awarding_subagency FROM transactions t "
        "JOIN awards a ON a.award_key = t.award_key",
        "t.action_date",
    ),
    "changes": (
        "SELECT c.*, a.piid, a.recipient_name, a.awarding_subagency FROM changes c "
        "LEFT JOIN awards a ON a.award_key = c.award_key",
        "c.detected_at",
    ),
    # The money behind every published total: each action tied to a vendor, once per vendor, with its path,
    # and each subaward to a vendor that its prime's actions do not already count (vendor_subawards).
    "obligations": (
        "SELECT a.* FROM (SELECT v.vendor, v.path, t.transaction_key AS record_key, t.award_key,"
        " t.modification_number, t.action_date, t.obligation, w.piid, w.recipient_name, w.awarding_subagency,"
        " w.funding_subagency FROM vendor_actions v JOIN transactions t ON t.transaction_key = v.transaction_key"
        " JOIN awards w ON w.award_key = t.award_key"
        " UNION ALL SELECT s.vendor, 'subaward', s.subaward_key, s.prime_award_key, NULL, s.action_date, s.amount,"
        " u.prime_piid, u.sub_recipient_name, s.awarding_subagency, NULL FROM vendor_subawards s"
        " JOIN subawards u ON u.subaward_key = s.subaward_key) a",
        "a.action_date",
    ),
    # The competition flags per award (view award_flags, rules in docs/competition.md).
    "flags": ("SELECT f.* FROM award_flags f JOIN awards a ON a.award_key = f.award_key", "a.last_modified_date"),
    # The calendar ahead (store/coming_up.py): --since/--until pick the dates, e.g. --since today's date.
    "coming_up": ("SELECT a.* FROM coming_up a", "a.date"),
}


#: The flag columns of the award_flags view.
FLAG_NAMES = ("single_offer", "sole_source", "small_business_set_aside_to_big_tech", "near_ceiling")

#: Exports for the operator only (`watcher export`), never among the site's downloads: the review queue.
OPERATOR_EXPORTS: dict[str, tuple[str, str]] = {"review": ("SELECT r.* FROM review r", "r.first_seen_at")}


def export(db: Database, what: str, fmt: str, f: Filters, out: Path | IO[str]) -> int:
    """``watcher export``: one export as CSV or JSON into a file (a path) or an open stream; the rows written."""
    write = write_csv if fmt == "csv" else write_json
    if isinstance(out, Path):
        return write_file(out, write, rows(db, what, f))  # whole or not at all
    return write(rows(db, what, f), out)


def rows(db: Database, what: str, f: Filters) -> Iterator[dict[str, Any]]:
    """The rows of one export, filtered; streamed, so an export never holds the table in memory."""
    if what not in EXPORTS and what not in OPERATOR_EXPORTS:
        raise ConfigError(f"unknown export {what!r}; choose one of {', '.join([*EXPORTS, *OPERATOR_EXPORTS])}")
    if what in OPERATOR_EXPORTS:
        return _review_rows(db, f)
    sql, date_col = EXPORTS[what]
    where, params = [], []
    if what == "obligations":  # per vendor and record: the filters name the vendor's share, not the award's
        if f.vendor:
            where.append("a.vendor = ?")
            params.append(f.vendor)
        if f.watch:
            where.append(
                "EXISTS (SELECT 1 FROM matches m WHERE m.watch = ? AND m.entity_key IN (a.award_key, a.record_key))"
            )
            params.append(f.watch)
    elif f.watch or f.vendor:
        sub, sub_params = "SELECT entity_key FROM matches WHERE 1=1", []
        if f.watch:
            sub += " AND watch = ?"
            sub_params.append(f.watch)
        if f.vendor:
            sub += " AND vendor = ?"
            sub_params.append(f.vendor)
        where.append(f"a.award_key IN ({sub})")
        params += sub_params
    if f.agency:
        where.append(
            "(a.awarding_subagency LIKE ? OR a.funding_subagency LIKE ? OR a.awarding_subagency IN "
            "(SELECT name FROM agencies WHERE upper(abbreviation) = upper(?) OR agency = ?))"
        )
        params += [f"%{f.agency}%", f"%{f.agency}%", f.agency, f.agency]
    if f.since:
        where.append(f"{date_col} >= ?")
        params.append(f.since)
    if f.until:
        where.append(f"substr({date_col}, 1, 10) <= ?")
        params.append(f.until)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return _stream(db, sql, params)


def _stream(db: Database, sql: str, params: list[Any]) -> Iterator[dict[str, Any]]:
    cur = db.execute(sql, params)
    cols = [c[0] for c in cur.description]
    for row in cur:
        yield dict(zip(cols, row, strict=True))


def _review_rows(db: Database, f: Filters) -> Iterator[dict[str, Any]]:
    """The review queue with every decision, biggest orders first, filtered like the other exports."""
    sql, date_col = OPERATOR_EXPORTS["review"]
    where, params = [], []
    for column, value in (("r.watch", f.watch), ("r.vendor", f.vendor)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if f.agency:
        where.append(
            "(r.awarding_subagency LIKE ? OR r.awarding_subagency IN "
            "(SELECT name FROM agencies WHERE upper(abbreviation) = upper(?) OR agency = ?))"
        )
        params += [f"%{f.agency}%", f.agency, f.agency]
    if f.since:
        where.append(f"{date_col} >= ?")
        params.append(f.since)
    if f.until:
        where.append(f"substr({date_col}, 1, 10) <= ?")
        params.append(f.until)
    sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY coalesce(r.total_obligation, 0) DESC"
    return _stream(db, sql, params)


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would evaluate (=, +, -, @, tab, CR first) is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def possible(value: Any) -> Any:
    """A stored amount, or None when it is no possible money (an old database may hold Infinity: values.MAX_AMOUNT)."""
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= MAX_AMOUNT):
        return None
    return value


def _cents(value: Any) -> Any:
    value = possible(value)
    return f"{value:.2f}" if isinstance(value, float) else safe_cell(value)


def write_csv(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    writer: csv.DictWriter[str] | None = None
    n = 0
    for rec in records:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(rec))
            writer.writeheader()
        writer.writerow({k: _cents(v) if k in AMOUNTS else safe_cell(v) for k, v in rec.items()})
        n += 1
    return n


def write_file(path: Path, write: Writer, records: Iterator[dict[str, Any]]) -> int:
    """``export --out``: the file is written whole or not at all (a temporary file, then one rename).

    A full disk or an interrupted export leaves the previous file as it was, never half of a
    new one. A device or a pipe (``/dev/stdout``) is written as the rows come.
    """
    if not path.parent.is_dir():
        raise ConfigError(f"--out {path}: the folder {path.parent} does not exist")
    direct = path.exists() and not path.is_file()
    partial = path if direct else path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as fh:
            n = write(records, fh)
        if not direct:
            os.replace(partial, path)
    except BaseException as exc:
        if not direct:
            partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, str(partial)):  # name what the user named
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    return n


def write_table(db: Database, what: str, csv_out: io.TextIOBase, json_out: io.TextIOBase) -> int:
    """A whole export as CSV and JSON, with the formula guard, cents and JSON encoding done by SQLite.

    The site's bulk downloads hold 500k changes: per-cell Python made them the slowest part of a
    build. The output follows the same rules as ``write_csv`` and ``write_json`` (a test checks).
    """
    sql = EXPORTS[what][0]
    columns = [d[0] for d in db.execute(f"SELECT * FROM ({sql}) LIMIT 0").description]
    starts = "'=', '+', '-', '@', char(9), char(13)"  # FORMULA_START, in SQL
    cells = []
    for c in columns:
        q = f'"{c}"'
        if c in AMOUNTS:  # no possible money (values.MAX_AMOUNT, an old database's Infinity) is written empty
            cells.append(
                f"CASE WHEN typeof({q}) != 'real' THEN {q} WHEN abs({q}) <= {MAX_AMOUNT} THEN printf('%.2f', {q}) END"
            )
        else:
            guard = f"typeof({q}) = 'text' AND substr({q}, 1, 1) IN ({starts})"
            cells.append(f"CASE WHEN {guard} THEN char(39) || {q} ELSE {q} END")
    writer = csv.writer(csv_out)
    writer.writerow(columns)
    writer.writerows(db.execute(f"SELECT {', '.join(cells)} FROM ({sql})"))
    pairs = ", ".join(
        f'\'{c}\', CASE WHEN typeof("{c}") != \'real\' OR abs("{c}") <= {MAX_AMOUNT} THEN "{c}" END'
        if c in AMOUNTS
        else f"'{c}', \"{c}\""
        for c in columns
    )
    json_out.write("[")
    n = 0
    for (obj,) in db.execute(f"SELECT json_object({pairs}) FROM ({sql})"):
        json_out.write(",\n" if n else "\n")
        json_out.write(obj)
        n += 1
    json_out.write("\n]\n")
    return n


def write_json(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    out.write("[")
    n = 0
    for rec in records:
        out.write(",\n" if n else "\n")
        out.write(json.dumps({k: possible(v) for k, v in rec.items()}, ensure_ascii=False, allow_nan=False))
        n += 1
    out.write("\n]\n")
    return n


# ---------------------------------------------------------------- one award's timeline


def json_default(value: Any) -> Any:
    """For json.dumps of stored rows: amounts (Decimal) as numbers, anything else as text."""
    return float(value) if isinstance(value, Decimal) else str(value)


def resolve_award(db: Database, text: str) -> str:
    """An award_key from an award_key or a PIID (which must name exactly one award)."""
    key = text.strip().upper()
    if db.execute("SELECT 1 FROM awards WHERE award_key = ?", [key]).fetchone():
        return key
    hits = [r[0] for r in db.execute("SELECT award_key FROM awards WHERE piid = ?", [key])]
    if len(hits) == 1:
        return hits[0]
    hint = f"; that PIID names {len(hits)} awards: {', '.join(hits)}" if hits else ""
    raise ConfigError(f"no award {text!r} in the database{hint}")


def history(db: Database, award: str) -> dict[str, Any]:
    """Everything the store knows about one award: its state, why it matched, its actions and changes."""
    key = resolve_award(db, award)
    award_row = db.execute("SELECT * FROM awards WHERE award_key = ?", [key])
    cols = [c[0] for c in award_row.description]
    award_data = dict(zip(cols, award_row.fetchone(), strict=True))
    events: list[dict[str, Any]] = []
    for t in db.query("SELECT * FROM transactions WHERE award_key = ? ORDER BY action_date", [key]):
        events.append({"at": t["action_date"], "event": "action", **t, "did": action_words(t["action_type"])})
    # SAM.gov notices tied to it by award number or by its solicitation number (a solicitation, a J&A...).
    for n in db.query("SELECT * FROM award_notices WHERE award_key = ? ORDER BY posted_date", [key]):
        events.append({"at": n["posted_date"], "event": "notice", **n})
    for c in db.query("SELECT * FROM changes WHERE award_key = ? ORDER BY id", [key]):
        events.append({"at": c["detected_at"], "event": "detected", **c, "diff": json.loads(c["diff"] or "{}")})
    events.sort(key=lambda e: (e["at"] or "", e["event"] == "detected"))
    flag_row = next(db.query("SELECT * FROM award_flags WHERE award_key = ?", [key]), None)
    return {
        "award": award_data,
        "matches": list(
            db.query("SELECT watch, vendor, reason, evidence, matched_at FROM matches WHERE entity_key = ?", [key])
        ),
        "provenance": list(
            db.query("SELECT source, first_seen_at, last_seen_at, url FROM provenance WHERE entity_key = ?", [key])
        ),
        "flags": [f for f, v in (flag_row or {}).items() if f in FLAG_NAMES and v],
        "timeline": events,
        # every subaward reported under it (withdrawn ones too, with deleted_at), newest first
        "subawards": list(
            db.query("SELECT * FROM subawards WHERE prime_award_key = ? ORDER BY action_date DESC, subaward_key", [key])
        ),
    }


def raw_records(db: Database, award: str) -> list[dict[str, Any]]:
    """The API records kept for an award and its actions, decompressed: the latest, and the earlier versions kept.

    ``earlier``: the record's previous raw versions still kept (``settings.raw_versions_kept``),
    newest first, each with when it was first and last seen.
    """
    from watcher.store import earlier_versions, read_raw

    key = resolve_award(db, award)
    out = []
    for entity, source, refs in db.execute(
        "SELECT entity_key, source, raw_refs FROM provenance WHERE entity_key = ? OR entity_key IN "
        "(SELECT transaction_key FROM transactions WHERE award_key = ?) ORDER BY entity_key",
        [key, key],
    ).fetchall():
        earlier = earlier_versions(db, entity, source, refs)
        out.append({"entity_key": entity, "source": source, "records": read_raw(db, refs), "earlier": earlier})
    return out


def _plain(value: Any) -> Any:
    """Stored text for a terminal (words.clean: no control or bidi character); other values as they are."""
    return clean(value) if isinstance(value, str) else value


def _usd(value: Any) -> str:
    amount = finite_amount(value)
    if amount is None:
        return "-"
    sign = "-" if amount < 0 else "+"
    return f"{sign}${abs(amount):,.2f}"


def render_history(h: dict[str, Any]) -> str:
    """One award's timeline for a terminal: every stored text through ``clean`` (a database written before
    the parsers dropped control characters may still hold an escape sequence that would drive the terminal)."""
    a = {k: _plain(v) for k, v in h["award"].items()}
    total = usd(a["total_obligation"])
    lines = [
        f"{a['piid']}  {a['recipient_name']}",
        f"  {a['award_key']}",
        f"  {a['award_type'] or a['category']} awarded by {a['awarding_subagency']}, total obligated {total}",
        f"  {a['description'] or ''}",
        f"  {a['source_url']}",
        "why it matched:",
    ]
    if h.get("flags"):
        lines.insert(4, "  flags: " + ", ".join(f.replace("_", " ") for f in h["flags"]))
    lines += [
        f"  {m['watch']}: {_plain(m['vendor']) or '(keyword)'} by {m['reason']}: {_plain(m['evidence'])}"
        for m in h["matches"]
    ]
    if h["provenance"]:
        lines.append("sources:")
        lines += [
            f"  {p['source']}: first seen {p['first_seen_at']}, last seen {p['last_seen_at']}" for p in h["provenance"]
        ]
    subs = h.get("subawards") or []
    if subs:
        lines.append(f"subawards ({len(subs)}):")
        for s in subs:
            amount = f"${s['amount']:,.2f}" if s["amount"] is not None else "unknown amount"
            gone = f"  [withdrawn {s['deleted_at'][:10]}]" if s["deleted_at"] else ""
            filed = f", reported {s['report_count']} times" if (s["report_count"] or 0) > 1 else ""
            lines.append(
                f"  {s['action_date'] or '?'}  {s['sub_recipient_name'] or '?'} ({s['sub_recipient_uei'] or 'no UEI'}):"
                f" {amount}, subaward {s['subaward_number'] or '?'}{filed}{gone}"
            )
            if s["description"]:
                lines.append(f"      {s['description']}")
    lines.append("timeline:")
    for e in h["timeline"]:
        if e["event"] == "action":
            did = f" [{e['did']}]" if e.get("did") else ""
            lines.append(
                f"  {e['at']}  action {_plain(e['modification_number'])}{did}: {_usd(e['obligation'])}"
                f"  {_plain(e['description']) or ''}"
            )
        elif e["event"] == "notice":
            lines.append(
                f"  {e['at']}  SAM.gov {_plain(e['type']) or 'notice'} {_plain(e['notice_id'])}: {_plain(e['title'])}"
                f" (linked by {e['linked_by']})"
            )
        else:
            fields = "; ".join(f"{k} {_plain(v[0])} -> {_plain(v[1])}" for k, v in e["diff"].items())
            lines.append(
                f"  {e['at']}  detected {e['kind']} {_plain(e['entity_key'])}" + (f": {fields}" if fields else "")
            )
    return "\n".join(lines)

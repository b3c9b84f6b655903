"""The schema's later migrations (19 on): honest totals, subawards, provenance versions, the review queue.

Split from ``migrations`` only to keep modules small: they register on the same
``Migrations`` object, after the earlier ones, so they run in order. ``watcher.store``
imports this module before it applies them.
"""

from __future__ import annotations

from sqlite_utils import Database

from watcher.models import COMPETITION_FIELDS
from watcher.store.migrations import migrations


@migrations()
def m019_attributions(db: Database) -> None:
    """Money per contract action and vendor, with its path (direct, vehicle, reviewed, reseller): honest totals."""
    db.table("attributions").create(
        {"watch": str, "vendor": str, "transaction_key": str, "award_key": str, "path": str},
        pk=("watch", "vendor", "transaction_key"),
    )
    db.table("attributions").create_index(["award_key"])
    db.table("attributions").create_index(["vendor", "transaction_key"])
    from watcher.store.attributions import refresh  # the awards already held get their attributions now

    for (watch,) in db.execute("SELECT DISTINCT watch FROM matches").fetchall():
        keys = [k for (k,) in db.execute("SELECT DISTINCT entity_key FROM matches WHERE watch = ?", [watch])]
        refresh(db, watch, [k for k in keys if k.startswith(("CONT_AWD_", "CONT_IDV_"))])


@migrations()
def m020_subawards(db: Database) -> None:
    """Subawards (subcontracts) under prime awards, and what each prime's detail last said of them.

    ``subawards``: one row per reported subaward, its re-filed reports collapsed into it (the
    key is documented in README.md, "Subawards"). ``subaward_checks``: per prime, the
    ``subaward_count`` and ``total_subaward_amount`` of its award detail when its complete
    subaward list was last read, so an unchanged prime costs no subaward request.
    """
    db.table("subawards").create(
        {
            "subaward_key": str,
            "prime_award_key": str,
            "prime_piid": str,
            "subaward_number": str,
            "report_id": str,
            "sub_recipient_name": str,
            "sub_recipient_uei": str,
            "sub_parent_name": str,
            "sub_parent_uei": str,
            "amount": float,
            "action_date": str,
            "description": str,
            "prime_recipient_name": str,
            "awarding_subagency": str,
            "report_count": int,
            "fingerprint": str,
            "first_seen_at": str,
            "last_seen_at": str,
            "deleted_at": str,
        },
        pk="subaward_key",
    )
    db.table("subawards").create_index(["prime_award_key"])
    db.table("subawards").create_index(["sub_recipient_uei"])
    db.table("subaward_checks").create(
        {"award_key": str, "subaward_count": int, "total_subaward_amount": float, "checked_at": str},
        pk="award_key",
    )


@migrations()
def m021_provenance_versions(db: Database) -> None:
    """Provenance kept per distinct answer: answers deduplicated by content, each record's versions indexed.

    Each existing provenance row becomes its record's first version. Answers no provenance row
    refers to (left by earlier versions of the watcher) stay; the site's download drops them.
    """
    db.table("responses").add_column("content_sha256", str)
    db.table("responses").create_index(["source", "content_sha256"])
    db.table("provenance_versions").create(
        {"id": int, "entity_key": str, "source": str, "raw_refs": str, "first_seen_at": str, "last_seen_at": str},
        pk="id",
    )
    db.table("provenance_versions").create_index(["entity_key", "source", "raw_refs"], unique=True)
    db.execute(
        "CREATE TABLE version_responses (response_id INTEGER NOT NULL, version_id INTEGER NOT NULL,"
        " PRIMARY KEY (response_id, version_id)) WITHOUT ROWID"
    )
    db.table("version_responses").create_index(["version_id"])
    db.table("backfill_transactions").create_index(["response_id"])
    db.execute(
        "INSERT INTO provenance_versions (entity_key, source, raw_refs, first_seen_at, last_seen_at)"
        " SELECT entity_key, source, raw_refs, first_seen_at, last_seen_at FROM provenance"
    )
    db.execute(
        "INSERT OR IGNORE INTO version_responses (response_id, version_id)"
        " SELECT json_extract(j.value, '$[0]'), v.id FROM provenance_versions v, json_each(v.raw_refs) j"
    )


@migrations()
def m022_review_queue(db: Database) -> None:
    """Reseller orders naming no watched product, queued for a person to confirm or dismiss (store/review.py)."""
    db.table("review").create(
        {
            "watch": str,
            "entity_key": str,
            "reseller": str,
            "status": str,
            "vendor": str,
            "decided_by": str,
            "decided_at": str,
            "note": str,
            "first_seen_at": str,
            "last_seen_at": str,
            "fingerprint": str,
            "piid": str,
            "recipient_name": str,
            "awarding_subagency": str,
            "parent_award_piid": str,
            "description": str,
            "total_obligation": float,
            "source_url": str,
        },
        pk=("watch", "entity_key"),
    )
    db.table("review").create_index(["status"])


@migrations()
def m023_schema_versions(db: Database) -> None:
    """Which watcher version applied each migration: an older watcher opening this database names the one it needs."""
    db.table("schema_versions").create({"migration": str, "watcher_version": str, "recorded_at": str}, pk="migration")


@migrations()
def m024_competition_facts(db: Database) -> None:
    """Competition and ceiling facts per award, from the award detail the poll already fetches.

    Awards stored before this migration keep NULL in them until their detail is read again (a
    change to the award); that first filling is silent (``diff.FILL_FIELDS``), not a change.
    """
    types = {"number_of_offers_received": int, "base_exercised_options": float}
    have = set(db.table("awards").columns_dict)
    for name in COMPETITION_FIELDS:
        if name not in have:
            db.table("awards").add_column(name, types.get(name, str))
    db.table("awards").create_index(["solicitation_identifier"], if_not_exists=True)


@migrations()
def m025_ending_soon(db: Database) -> None:
    """The calendar ahead (store/coming_up.py): ``ending_soon`` once per award and date, and its dates indexed.

    The diff of an ``ending_soon`` change is ``{"ends_on": [null, date]}``, so a partial unique
    index on (entity_key, diff) is one per award and date; other kinds of change are not
    constrained. The three date columns are indexed so that ``coming_up`` read for a window of
    dates reads only that window (100k awards: 0.09 s for 30 days instead of 4.4 s, bench/RESULTS.md).
    """
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS changes_ending_soon ON changes (entity_key, diff) WHERE kind = 'ending_soon'"
    )
    for column in ("end_date", "potential_end_date", "last_date_to_order"):
        db.table("awards").create_index([column], if_not_exists=True)


@migrations()
def m026_deliveries_coming_up_until(db: Database) -> None:
    """Each digest's coming-up window's far end, so that a date is in a subscriber's section once.

    The next digest lists only the dates past that end (they entered the window since), and
    the dates of awards that changed meanwhile (a date moved into the window is news).
    """
    db.table("deliveries").add_column("coming_up_until", str)

"""The database schema as ordered, idempotent migrations (sqlite-utils ``Migrations``).

Each migration runs once, in its own transaction with the record of it, so a failed one
leaves nothing half-applied. Add new ones at the end; never edit a released one.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database, Migrations

from watcher.diff import AWARD_FIELDS, TRANSACTION_FIELDS
from watcher.models import COMPETITION_FIELDS

migrations = Migrations("watcher")

AWARD_COLUMNS = ("award_key", *AWARD_FIELDS, "last_modified_date", "source_url", "fingerprint")
TRANSACTION_COLUMNS = ("transaction_key", "award_key", *TRANSACTION_FIELDS)


@migrations()
def m001_initial(db: Database) -> None:
    amounts = {"total_obligation", "potential_value"}
    # The awards table as first released: later columns come with their own migrations (m024).
    first = (c for c in AWARD_COLUMNS if c not in COMPETITION_FIELDS)
    award_cols: dict[str, Any] = {c: (float if c in amounts else str) for c in first}
    award_cols |= {"first_seen_at": str, "last_seen_at": str, "enriched_at": str}
    db.table("awards").create(award_cols, pk="award_key")
    tx_cols: dict[str, Any] = {c: (float if c == "obligation" else str) for c in TRANSACTION_COLUMNS}
    tx_cols |= {"first_seen_at": str, "last_seen_at": str}
    db.table("transactions").create(tx_cols, pk="transaction_key", foreign_keys=[("award_key", "awards", "award_key")])
    db.table("transactions").create_index(["award_key"])
    db.table("runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "duration_seconds": float,
            "watch": str,
            "source": str,
            "status": str,
            "requests": int,
            "pages": int,
            "records": int,
            "changes": int,
            "error": str,
        },
        pk="id",
    )
    db.table("changes").create(
        {
            "id": int,
            "run_id": int,
            "detected_at": str,
            "kind": str,
            "entity_key": str,
            "award_key": str,
            "diff": str,
            "amount_delta": float,
            "source": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("changes").create_index(["award_key"])
    db.table("changes").create_index(["detected_at"])
    db.table("matches").create(
        {"watch": str, "entity_key": str, "vendor": str, "reason": str, "evidence": str, "matched_at": str},
        pk=("watch", "entity_key", "vendor", "reason"),
    )
    db.table("matches").create_index(["entity_key"])
    db.table("awards").enable_fts(["piid", "recipient_name", "parent_name", "description"], create_triggers=True)
    db.table("transactions").enable_fts(["description"], create_triggers=True)


@migrations()
def m002_rejected(db: Database) -> None:
    """Search hits our matcher turned down, so an unchanged one is not fetched again."""
    db.table("rejected").create(
        {"watch": str, "award_key": str, "fingerprint": str, "rejected_at": str},
        pk=("watch", "award_key"),
    )


#: The columns of awards_fts, in order.
AWARD_FTS_COLUMNS = ("piid", "recipient_name", "parent_name", "description")


@migrations()
def m003_awards_fts_batched(db: Database) -> None:
    """Index awards in bulk per run instead of per row (measured 4x cheaper; see bench/RESULTS.md).

    FTS5 pays a fixed cost per statement, so one trigger call per upserted award cost
    35 us/award at 100k awards, against 8 us for one INSERT ... SELECT per run.
    ``index_awards_fts`` is called by every writer of ``awards`` before it commits.
    """
    for name in ("awards_ai", "awards_ad", "awards_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("INSERT INTO awards_fts(awards_fts) VALUES ('rebuild')")


@migrations()
def m004_watch_rules(db: Database) -> None:
    """The match rules each watch last ran with, to notice an edited vendor map or watch."""
    db.table("watch_rules").create({"watch": str, "signature": str, "updated_at": str}, pk="watch")


@migrations()
def m005_provenance_and_notices(db: Database) -> None:
    """Where each record came from (raw API record kept, compressed), and the SAM.gov notices table."""
    db.table("responses").create(
        {"id": int, "source": str, "method": str, "path": str, "request": str, "received_at": str, "content": bytes},
        pk="id",
    )
    db.table("provenance").create(
        {"entity_key": str, "source": str, "first_seen_at": str, "last_seen_at": str, "url": str, "raw_refs": str},
        pk=("entity_key", "source"),
    )
    db.table("notices").create(
        {
            "notice_id": str,
            "type": str,
            "title": str,
            "solicitation_number": str,
            "agency_path": str,
            "posted_date": str,
            "award_number": str,
            "award_amount": float,
            "awardee_name": str,
            "awardee_uei": str,
            "award_key": str,
            "first_seen_at": str,
            "last_seen_at": str,
            "source_url": str,
        },
        pk="notice_id",
    )
    db.table("notices").create_index(["award_key"])
    db.table("notices").enable_fts(["title", "awardee_name", "solicitation_number"], create_triggers=True)


@migrations()
def m006_seed_tables(db: Database) -> None:
    """The reviewed maps from seeds/, mirrored for joins (rows replaced by load_seeds)."""
    db.table("vendors").create(
        {"vendor": str, "name": str, "aliases": str, "ueis": str, "parent_ueis": str, "mentions": str, "evidence": str},
        pk="vendor",
        if_not_exists=True,
    )
    db.table("resellers").create(
        {"reseller": str, "name": str, "aliases": str, "vendors": str, "evidence": str},
        pk="reseller",
        if_not_exists=True,
    )
    db.table("agencies").create(
        {"agency": str, "name": str, "tier": str, "abbreviation": str, "code": str, "toptier_name": str},
        pk="agency",
        if_not_exists=True,
    )


@migrations()
def m007_run_warnings(db: Database) -> None:
    """Per-award problems of a run that otherwise succeeded (retried at the next poll)."""
    db.table("runs").add_column("warnings", str)


@migrations()
def m008_agency_checks(db: Database) -> None:
    """Agency names USAspending confirmed (exact, case-sensitive), so a typo never returns silent zeros."""
    db.table("agency_checks").create({"name": str, "tier": str, "verified_at": str}, pk=("name", "tier"))


@migrations()
def m009_deliveries(db: Database) -> None:
    """The digest outbox ledger: what each subscriber was sent, so nothing is lost or mailed twice.

    A delivery is claimed (``pending``, with the exact message bytes) before the SMTP
    conversation and marked ``sent`` only after the server accepted it; ``failed`` means
    the server certainly did not take it, and its changes go into the next digest.
    """
    db.table("subscribers").create(
        {"subscriber": str, "email": str, "first_seen_at": str, "watermark": int, "last_slot": str},
        pk="subscriber",
    )
    db.table("deliveries").create(
        {
            "id": int,
            "subscriber": str,
            "email": str,
            "channel": str,
            "status": str,
            "created_at": str,
            "slot": str,
            "sent_at": str,
            "attempts": int,
            "error": str,
            "subject": str,
            "message_id": str,
            "changes": int,
            "considered_up_to": int,
            "outbox_path": str,
            "message": bytes,
        },
        pk="id",
    )
    db.table("deliveries").create_index(["subscriber", "status"])
    db.table("delivery_items").create(
        {"delivery_id": int, "change_id": int, "award_key": str},
        pk=("delivery_id", "change_id"),
        foreign_keys=[("delivery_id", "deliveries", "id"), ("change_id", "changes", "id")],
    )
    db.table("delivery_items").create_index(["change_id"])
    db.table("delivery_items").create_index(["award_key"])


@migrations()
def m010_site_indexes(db: Database) -> None:
    """Indexes for the site's per-vendor and per-agency pages (an incremental build reads them)."""
    db.table("matches").create_index(["vendor", "entity_key"], if_not_exists=True)
    db.table("awards").create_index(["awarding_subagency"], if_not_exists=True)
    db.table("awards").create_index(["total_obligation"], if_not_exists=True)


@migrations()
def m011_delivery_parent(db: Database) -> None:
    """A chat notice (Apprise) belongs to its e-mail digest: it is released only once the e-mail is accepted."""
    db.table("deliveries").add_column("parent_id", int)


@migrations()
def m012_health(db: Database) -> None:
    """What the admins were last told about each watch and source: ok, broken or quiet."""
    db.table("health").create(
        {"watch": str, "source": str, "state": str, "since": str, "detail": str, "alerted_at": str},
        pk=("watch", "source"),
    )


@migrations()
def m013_daemon_jobs(db: Database) -> None:
    """When each `watcher daemon` job last ran, so one missed while the daemon was down runs at start."""
    db.table("daemon_jobs").create({"job": str, "last_run_at": str}, pk="job")


@migrations()
def m014_sam(db: Database) -> None:
    """SAM.gov: every request counted against the daily budget, resumable query walks, richer notices."""
    db.table("sam_requests").create(
        {
            "id": int,
            "sent_at": str,
            "day": str,
            "source": str,
            "watch": str,
            "query": str,
            "page": int,
            "status": int,
            "error": str,
            "next_access_at": str,
        },
        pk="id",
    )
    db.table("sam_requests").create_index(["day"])
    db.table("sam_walks").create(
        {
            "source": str,
            "query": str,
            "watches": str,
            "window_from": str,
            "window_to": str,
            "next_page": int,
            "pages": int,
            "total": int,
            "done_through": str,
            "done_at": str,
            "updated_at": str,
        },
        pk=("source", "query"),
    )
    for column, kind in (("agency_code", str), ("response_deadline", str), ("active", str), ("fingerprint", str)):
        db.table("notices").add_column(column, kind)
    db.table("agencies").add_column("department_code", str)


@migrations()
def m015_backfill(db: Database) -> None:
    """`watcher backfill`: its runs, its checkpoints per slice, the actions it staged, and what it wrote."""
    db.table("backfills").create(
        {
            "watch": str,
            "since": str,
            "until": str,
            "plan": str,
            "started_at": str,
            "finished_at": str,
            "error": str,
        },
        pk=("watch", "since"),
    )
    db.table("backfill_slices").create(
        {
            "watch": str,
            "since": str,
            "kind": str,
            "query": str,
            "slice_from": str,
            "slice_to": str,
            "records": int,
            "done_at": str,
        },
        pk=("watch", "since", "kind", "query", "slice_from", "slice_to"),
    )
    db.table("backfill_transactions").create(
        {
            "watch": str,
            "award_key": str,
            "mod": str,
            "row_hash": str,
            "action_date": str,
            "action_type": str,
            "obligation": float,
            "description": str,
            "response_id": int,
            "response_index": int,
        },
        pk=("watch", "award_key", "mod", "row_hash"),
    )
    db.table("awards").add_column("backfilled_at", str)
    db.table("transactions").add_column("backfilled_at", str)


@migrations()
def m016_backfill_slice_warnings(db: Database) -> None:
    """A backfill slice still full at the last page spending_by_transaction can serve says so (issue #3218)."""
    db.table("backfill_slices").add_column("warning", str)


@migrations()
def m017_backfill_identical_actions(db: Database) -> None:
    """Two identical actions in one answer stay two: a staged action's key gains its ordinal among identical rows."""
    db.table("backfill_transactions").add_column("ordinal", int, not_null_default=0)
    db.table("backfill_transactions").transform(pk=("watch", "award_key", "mod", "row_hash", "ordinal"))


@migrations()
def m018_notice_amount_text(db: Database) -> None:
    """A notice's award amount as SAM.gov wrote it when it is not a number ("$1.2M", "TBD"): kept, not dropped."""
    db.table("notices").add_column("award_amount_text", str)

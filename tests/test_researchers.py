"""The researcher's database: documented schema, views, canned queries, Datasette, exports, history."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli import cli
from watcher.store import open_db, schema_doc

ROOT = Path(__file__).resolve().parent.parent
FOUR_POINTS_AWS = "CONT_AWD_70CTD025FC0000024_7012_70CTD022A00000004_7012"


def run_query(db: Path, name: str, **params: str) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(schema_doc.QUERIES[name]["sql"], params).fetchall()


def test_every_table_view_and_column_is_described(tmp_path: Path) -> None:
    assert schema_doc.undocumented(open_db(tmp_path / "fresh.db")) == []


@pytest.mark.parametrize(
    ("path", "args"),
    [
        ("docs/schema.md", ["schema"]),
        ("datasette/metadata.json", ["schema", "--format", "datasette"]),
        ("queries.schema.json", ["schema", "--format", "queries"]),
    ],
)
def test_checked_in_references_match_the_code(path: str, args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert (ROOT / path).read_text() == result.output, f"regenerate with: watcher {' '.join(args)} > {path}"


def test_question_1_ice_awards_mentioning_aws_bought_through_a_reseller(demo_db: Path) -> None:
    rows = run_query(demo_db, "reseller_obligations_by_fy", vendor="amazon", agency="Immigration")
    by_award = {r["piid"] for r in rows}
    assert "70CTD025FC0000024" in by_award  # Four Points: "...AMAZON WEB SERVICES ENVIRONMENT"
    assert all(r["recipient_name"] != "AMAZON WEB SERVICES, INC." for r in rows)
    assert all("Immigration" in r["awarding_subagency"] for r in rows)
    four = [r for r in rows if r["piid"] == "70CTD025FC0000024"]
    assert [(r["fiscal_year"], r["obligated"]) for r in four] == [(2025, 24105505.29)]


def test_question_2_what_changed_for_palantir_since_august(demo_db: Path) -> None:
    rows = run_query(demo_db, "vendor_changes", vendor="palantir", since="2026-08-01")
    kinds = [(r["kind"], r["piid"]) for r in rows]
    assert ("new_transaction", "70CTD026FC0000012") in kinds and ("new_transaction", "70CTD026FC0000018") in kinds
    assert all(r["detected_at"] >= "2026-08-01" for r in rows)


def test_question_3_obligations_by_fiscal_year(demo_db: Path) -> None:
    rows = run_query(demo_db, "vendor_obligations_by_fy", vendor="palantir")
    fy26 = {r["awarding_subagency"]: r["obligated"] for r in rows if r["fiscal_year"] == 2026}
    with sqlite3.connect(demo_db) as conn:
        (expected,) = conn.execute(
            "SELECT round(sum(obligation), 2) FROM transactions WHERE award_key IN "
            "(SELECT entity_key FROM matches WHERE vendor='palantir')"
            " AND action_date BETWEEN '2025-10-01' AND '2026-09-30'"
        ).fetchone()
    assert fy26["U.S. Immigration and Customs Enforcement"] == expected > 0


def test_change_fields_explodes_the_diff(demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as conn:
        rows = conn.execute(
            "SELECT field, old_value, new_value FROM change_fields WHERE award_key = ? ORDER BY change_id",
            ["CONT_AWD_70CTD022FR0000170_7012_GS35F0086U_4730"],
        ).fetchall()
    assert ("total_obligation", "145008922.61", "150703824.61") in rows


def test_full_text_search_on_transactions_and_notices_tables_exist(demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as conn:
        hits = conn.execute(
            "SELECT t.transaction_key FROM transactions_fts JOIN transactions t ON t.rowid = transactions_fts.rowid"
            " WHERE transactions_fts MATCH '\"amazon web services\"'"
        ).fetchall()
        assert len(hits) >= 5
        assert conn.execute("SELECT count(*) FROM notices_fts").fetchone() == (0,)


def test_provenance_keeps_the_raw_record(demo_db: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(demo_db), "history", "70CTD026FC0000012", "--raw"])
    assert result.exit_code == 0
    records = json.loads(result.output)
    award = next(r for r in records if r["entity_key"].startswith("CONT_AWD_"))
    search_row, detail = award["records"]
    assert search_row["Award Amount"] == 86271599.3 and search_row["generated_internal_id"] == award["entity_key"]
    assert detail["generated_unique_award_id"] == award["entity_key"]
    assert any(r["entity_key"].endswith("_P00001_70RTAC26A00000001_0") for r in records)
    with sqlite3.connect(demo_db) as conn:
        first, last, url = conn.execute(
            "SELECT first_seen_at, last_seen_at, url FROM provenance WHERE entity_key = ?", [award["entity_key"]]
        ).fetchone()
    assert first.startswith("2026-05-05") and last >= first and url.startswith("https://www.usaspending.gov/award/")


def test_history_timeline(demo_db: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(demo_db), "history", "70ctd026fc0000012"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "PALANTIR TECHNOLOGIES INC." in out and "palantir by recipient" in out
    assert out.index("2026-04-30  action 0: +$86,271,599.30") < out.index("2026-05-05T12:00:00Z  detected new_award")
    assert "2026-08-21T12:00:00Z  detected new_transaction" in out
    missing = CliRunner().invoke(cli, ["--db", str(demo_db), "history", "NOPE"])
    assert missing.exit_code == 2 and "no award 'NOPE'" in missing.output


def test_export_filters_and_formats(demo_db: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", str(demo_db), "export", "awards", "--vendor", "palantir", "--agency", "ICE"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert rows and all(r["awarding_subagency"] == "U.S. Immigration and Customs Enforcement" for r in rows)
    assert all("PALANTIR" in r["recipient_name"] for r in rows)
    big = next(r for r in rows if r["piid"] == "70CTD026FC0000012")
    assert big["total_obligation"] == "86271599.30"  # exact cents, not 86271599.3
    js = runner.invoke(cli, ["--db", str(demo_db), "export", "changes", "--format", "json", "--since", "2026-08-21"])
    changes = json.loads(js.output)
    assert changes and all(c["detected_at"] >= "2026-08-21" for c in changes)


def test_csv_export_is_safe_from_formula_injection(tmp_path: Path) -> None:
    db = open_db(tmp_path / "w.db")
    db.execute(
        "INSERT INTO awards (award_key, piid, description, recipient_name, total_obligation) VALUES (?,?,?,?,?)",
        ["CONT_AWD_X_7012_-NONE-_-NONE-", "X", '=HYPERLINK("http://evil","click")', "+SUM(A1)", -5.0],
    )
    out = CliRunner().invoke(cli, ["--db", str(tmp_path / "w.db"), "export", "awards"])
    row = next(csv.DictReader(io.StringIO(out.output)))
    assert row["description"] == '\'=HYPERLINK("http://evil","click")'
    assert row["recipient_name"] == "'+SUM(A1)"
    assert row["total_obligation"] == "-5.00"  # numbers are not text: left alone


def test_datasette_serves_metadata_and_canned_queries(demo_db: Path) -> None:
    from datasette.app import Datasette

    ds = Datasette([str(demo_db)], metadata=schema_doc.datasette_metadata("demo"))

    async def fetch() -> tuple[dict, dict, dict]:
        await ds.invoke_startup()
        home = (await ds.client.get("/-/metadata.json")).json()
        table = (await ds.client.get("/demo/awards.json?_size=1")).json()
        query = (await ds.client.get("/demo/vendor_obligations_by_fy.json?vendor=palantir&_shape=objects")).json()
        return home, table, query

    home, table, query = asyncio.run(fetch())
    assert home["title"].startswith("watcher")
    assert "awards" in home["databases"]["demo"]["tables"]
    assert table["rows"]
    assert query["rows"] and {"fiscal_year", "obligated"} <= set(query["rows"][0])

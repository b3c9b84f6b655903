"""An award page's reader-facing parts: its fields under plain labels, and its money over time as a chart and table.

The database's column names are what researchers query, so each field keeps its column
name in a small "in the data" note; readers see the label (``words.AWARD_LABELS``). Money
is printed exact (``usd``), dates as ISO days, the watcher's own timestamps in UTC.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from watcher.site.charts import Step, step_chart
from watcher.values import finite_amount
from watcher.words import AWARD_LABELS, day, usd, when

MONEY = frozenset({"total_obligation", "potential_value"})
TIMESTAMPS = frozenset({"first_seen_at", "last_seen_at"})
DATES = frozenset({"start_date", "end_date", "potential_end_date", "last_date_to_order", "last_modified_date"})


def fields(a: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, column, value shown) for every labelled column; an empty one says "not reported" (a blank misreads)."""
    out = []
    for column, label in AWARD_LABELS.items():
        v = a.get(column)
        if v is None or v == "":
            shown = "not reported"
        elif column in MONEY:
            shown = usd(v)
        elif column in TIMESTAMPS:
            shown = when(v)
        elif column in DATES:
            shown = day(v)
        elif column == "category":
            shown = "Vehicle to place orders under (IDV)" if v == "idv" else "Contract"
        else:
            shown = str(v)
        out.append((label, column, shown))
    return out


def money_over_time(a: dict[str, Any], transactions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The award's running total, one step per dated contract action, with its ceiling; and the same as a table."""
    dated = sorted(
        (t for t in transactions if t.get("action_date") and finite_amount(t.get("obligation")) is not None),
        key=lambda t: (t["action_date"], t.get("modification_number") or ""),
    )
    ceiling = finite_amount(a.get("potential_value"))
    if not dated or (len(dated) == 1 and ceiling is None):
        return None  # one action and no ceiling: no story over time (the contract actions table has it)
    steps, total = [], Decimal(0)
    for t in dated:
        amount = finite_amount(t["obligation"]) or Decimal(0)
        total += amount
        label = t.get("modification_number") or ""
        steps.append(
            Step(date.fromisoformat(t["action_date"][:10]), label if label not in ("", "0") else "base", amount, total)
        )
    name = a.get("piid") or a["award_key"]
    return {
        "svg": step_chart(
            steps,
            ceiling,
            ident="chart-award",
            title=f"{name}: money obligated over time",
            desc="A step at each contract action (the base award and each modification) up to the running total;"
            " the dashed line is the ceiling, the potential value with all options. The table that follows"
            " has every step.",
        ),
        "ceiling": ceiling,
        "rows": [(s.day.isoformat(), s.label, s.amount, s.total) for s in steps],
        "undated": len(transactions) - len(dated),
    }

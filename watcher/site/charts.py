"""Inline SVG charts for the static site: pure functions from numbers to markup (no scripts, no fonts to fetch).

Every chart is an ``<svg role="img">`` named by its own ``<title>`` and ``<desc>``; the page
prints a table of the same numbers next to it, which is what screen readers and researchers
read. Each drawn mark carries its exact amount (``data-value``, and a ``<title>`` tooltip) so a
test can check the picture against the table. Colours are attributes, not ``style``: the
pages' Content-Security-Policy allows no inline styles. Every text is escaped (names come
from the APIs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

from watcher.values import finite_amount
from watcher.words import usd, usd_short

INK = "#1d1d1b"
MUTED = "#555555"
GRID = "#d6d6d0"


@dataclass(frozen=True)
class Series:
    """One stacked layer: its key in the rows, its words in the legend, its fill."""

    key: str
    label: str
    color: str


@dataclass(frozen=True)
class Step:
    """One contract action on an award's running total."""

    day: date
    label: str  # the modification number ("base" for the first action)
    amount: Decimal  # this action's obligation
    total: Decimal  # the running total after it


def _open(ident: str, width: int, height: int, title: str, desc: str) -> list[str]:
    ident = escape(ident)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-labelledby="{ident}-title {ident}-desc" class="chart" id="{ident}">'
        f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(desc)}</desc>'
    ]


def _close(parts: list[str]) -> Markup:
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text in this module is escaped or a number


def _value(v: Decimal) -> str:
    return f"{v:.2f}"


def stacked_bars(
    rows: list[tuple[str, dict[str, Decimal]]],
    series: list[Series],
    *,
    ident: str,
    title: str,
    desc: str,
    width: int = 640,
    bar_height: int = 24,
) -> Markup:
    """Horizontal bars, one per row, each split into the series' amounts (one series: plain bars).

    Negative amounts (money taken back) are not drawn (a stacked bar cannot show them honestly);
    the table beside the chart has them, and the printed total at the end of each bar is the
    row's net sum.
    """
    if not rows:
        return Markup("")
    left = min(300, max(64, int(6.6 * max(len(label) for label, _ in rows)) + 10))
    right = 80
    legend = 22 if len(series) > 1 else 0
    span = width - left - right
    top = max((sum((v for v in r.values() if v > 0), Decimal(0)) for _, r in rows), default=Decimal(0)) or Decimal(1)
    height = legend + bar_height * len(rows) + 6
    parts = _open(ident, width, height, title, desc)
    x = left
    for s in series if legend else []:  # the legend: a swatch and the words of each layer
        parts.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{s.color}"/>'
            f'<text x="{x + 16}" y="15" font-size="12" fill="{INK}">{escape(s.label)}</text>'
        )
        x += 16 + 7 * len(s.label) + 18
    for i, (label, amounts) in enumerate(rows):
        y = legend + 4 + i * bar_height
        parts.append(
            f'<text x="{left - 6}" y="{y + bar_height * 0.65:.0f}" text-anchor="end" font-size="12"'
            f' fill="{INK}">{escape(label)}</text>'
        )
        x0 = float(left)
        for s in series:
            v = amounts.get(s.key)
            if v is None or v <= 0:
                continue
            w = max(1.0, span * float(v / top))
            parts.append(
                f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{bar_height - 6}" fill="{s.color}"'
                f' data-row="{escape(label)}" data-series="{escape(s.key)}" data-value="{_value(v)}">'
                f"<title>{escape(label)}, {escape(s.label)}: {escape(usd(v))}</title></rect>"
            )
            x0 += w
        total = sum(amounts.values(), Decimal(0))
        parts.append(
            f'<text x="{x0 + 6:.1f}" y="{y + bar_height * 0.65:.0f}" font-size="12" fill="{INK}">'
            f"{escape(usd_short(total))}</text>"
        )
    return _close(parts)


def step_chart(
    steps: list[Step],
    ceiling: Decimal | None,
    *,
    ident: str,
    title: str,
    desc: str,
    width: int = 640,
    height: int = 260,
) -> Markup:
    """An award's running total over time: a step at each action, and its ceiling as a dashed line."""
    if not steps:
        return Markup("")
    left, right, top_pad, bottom = 70, 16, 22, 28
    ceiling = finite_amount(ceiling)
    hi = max([s.total for s in steps] + ([ceiling] if ceiling is not None else []) + [Decimal(0)]) or Decimal(1)
    lo = min([s.total for s in steps] + [Decimal(0)])
    first, last = steps[0].day, steps[-1].day
    days = max(1, (last - first).days)
    plot_w, plot_h = width - left - right, height - top_pad - bottom

    def px(d: date) -> float:
        return left + plot_w * (d - first).days / days

    def py(v: Decimal) -> float:
        return top_pad + plot_h * float((hi - v) / (hi - lo or 1))

    parts = _open(ident, width, height, title, desc)
    parts.append(
        f'<line x1="{left}" y1="{py(Decimal(0)):.1f}" x2="{width - right}" y2="{py(Decimal(0)):.1f}" stroke="{GRID}"/>'
        f'<text x="{left - 6}" y="{py(hi) + 4:.1f}" text-anchor="end" font-size="12" fill="{INK}">'
        f"{escape(usd_short(hi))}</text>"
        f'<text x="{left - 6}" y="{py(Decimal(0)) + 4:.1f}" text-anchor="end" font-size="12" fill="{INK}">$0</text>'
        f'<text x="{left}" y="{height - 8}" font-size="12" fill="{INK}">{first.isoformat()}</text>'
        f'<text x="{width - right}" y="{height - 8}" text-anchor="end" font-size="12" fill="{INK}">'
        f"{last.isoformat()}</text>"
    )
    if ceiling is not None:
        parts.append(
            f'<line x1="{left}" y1="{py(ceiling):.1f}" x2="{width - right}" y2="{py(ceiling):.1f}" stroke="{MUTED}"'
            f' stroke-dasharray="6 4" data-series="ceiling" data-value="{_value(ceiling)}">'
            f"<title>Potential value with all options: {escape(usd(ceiling))}</title></line>"
            f'<text x="{width - right}" y="{py(ceiling) - 5:.1f}" text-anchor="end" font-size="12" fill="{INK}">'
            f"Ceiling {escape(usd_short(ceiling))}</text>"
        )
    path = f"M{px(first):.1f},{py(Decimal(0)):.1f}"
    for s in steps:
        path += f" H{px(s.day):.1f} V{py(s.total):.1f}"
    path += f" H{width - right}"
    parts.append(f'<path d="{path}" fill="none" stroke="#5a2a82" stroke-width="2"/>')
    for s in steps:
        parts.append(
            f'<circle cx="{px(s.day):.1f}" cy="{py(s.total):.1f}" r="3.5" fill="#5a2a82" data-series="total"'
            f' data-value="{_value(s.total)}"><title>{escape(s.label)}, {s.day.isoformat()}:'
            f" {escape(usd(s.amount))}; total {escape(usd(s.total))}</title></circle>"
        )
    return _close(parts)

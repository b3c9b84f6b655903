"""Inline SVG charts for the static site: pure functions from numbers to markup (no scripts, no fonts to fetch)."""

from __future__ import annotations

from decimal import Decimal

from markupsafe import Markup, escape

from watcher.words import usd_short


def bar_chart(rows: list[tuple[int, Decimal]], label: str, width: int = 640, bar_height: int = 22) -> Markup:
    """Horizontal bars, one per fiscal year; the numbers are also printed, so the chart needs no legend.

    ``label`` becomes the SVG's accessible name; every text is escaped (labels may come from the APIs).
    """
    if not rows:
        return Markup("")
    top = max((abs(v) for _, v in rows), default=Decimal(0)) or Decimal(1)
    left, right = 64, 96
    span = width - left - right
    height = bar_height * len(rows) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape(label)}">'
    ]
    for i, (fy, value) in enumerate(rows):
        y = 4 + i * bar_height
        w = max(1, int(span * float(abs(value) / top)))
        color = "#5a2a82" if value >= 0 else "#a11d1d"
        parts.append(
            f'<text x="{left - 6}" y="{y + bar_height * 0.7:.0f}" text-anchor="end" font-size="13">FY{int(fy)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{w}" height="{bar_height - 6}" fill="{color}"/>'
            f'<text x="{left + w + 6}" y="{y + bar_height * 0.7:.0f}" font-size="13">{escape(usd_short(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped or a number

"""Charts over time as server-rendered SVG (no JavaScript library, no CDN, testable in Python): series
building from grouped rows or samples, and the SVG of a line chart and of a histogram.

The SVG uses presentation attributes only (fill=, stroke=), never style=, so it draws under the
dashboard's CSP (style-src 'self'); every text is escaped. Times on the axis are WIB (the national view)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from shared.timezones import WIB

WIDTH, HEIGHT = 560, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 50, 40  # plot margins: y labels left, title and legend on top, times below
PALETTE = ("#3b82a0", "#1e7d45", "#b3261e", "#b26a00", "#6b7785", "#7a4fb3", "#0b4f6c", "#c2185b")

Point = tuple[dt.datetime, float]


@dataclass(frozen=True)
class Series:
    key: str  # stable name (an outcome, a state, a consumer group): data-series in the SVG
    label: str  # what people read
    points: list[Point]
    color: str


def buckets(since: dt.datetime, until: dt.datetime, step: dt.timedelta) -> list[dt.datetime]:
    """The starts of the buckets covering [since, until), `since` aligned like date_bin(step, t, since)."""
    n = max(1, math.ceil((until - since) / step))
    return [since + i * step for i in range(n)]


def fill(
    rows: Iterable[tuple[dt.datetime, str, int]], keys: Sequence[str], starts: Sequence[dt.datetime]
) -> dict[str, list[Point]]:
    """Grouped (bucket, key, count) rows into one point per bucket and key, zero where no row was: an
    empty minute is a zero on the chart, not a line drawn across it. Keys not asked for are dropped."""
    counts: dict[tuple[dt.datetime, str], int] = {}
    for at, key, n in rows:
        counts[(at, key)] = counts.get((at, key), 0) + int(n)
    return {k: [(t, float(counts.get((t, k), 0))) for t in starts] for k in keys}


def last_per_bucket(
    samples: Iterable[tuple[dt.datetime, float]], since: dt.datetime, step: dt.timedelta
) -> list[Point]:
    """Samples (time ordered) thinned to the last one per bucket: hours of 5-second samples, one point a minute."""
    out: dict[int, Point] = {}
    for at, value in samples:
        if at >= since:
            out[int((at - since) / step)] = (at, value)
    return [out[i] for i in sorted(out)]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1): round axis labels."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 5, 10):
        if m * power >= value:
            return float(m * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _number(v: float) -> str:
    """id-ID: a dot between thousands, a comma before decimals (an axis up to 1 or 2 has halves)."""
    if v == int(v):
        return f"{v:,.0f}".replace(",", ".")
    return f"{v:.2f}".rstrip("0").replace(".", ",")


def _head(chart: str, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart={quoteattr(chart)} '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
        f'<text class="heading" x="8" y="16" font-size="12" font-weight="bold" fill="#1c2733">{escape(title)}</text>',
    ]


def _y_axis(top: float, plot_w: float, plot_h: float) -> list[str]:
    out = []
    steps = 4 if f"{top:e}".startswith("2") else 5  # round steps: 2 in quarters, 1 and 5 in fifths
    for i in range(steps + 1):
        y = TOP + plot_h - plot_h * i / steps
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e8ee"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#6b7785">'
            f"{_number(round(top * i / steps, 6))}</text>"
        )
    return out


def _legend(series: Sequence[Series]) -> list[str]:
    out, x = [], LEFT
    for s in series:
        if x > WIDTH - 60:
            break  # the chart's own width: a legend that would run off it stops (each line has its title)
        out.append(f'<rect x="{x}" y="26" width="10" height="10" fill="{s.color}"/>')
        out.append(f'<text x="{x + 14}" y="35" font-size="12" fill="#1c2733">{escape(s.label)}</text>')
        x += 24 + 7 * len(s.label)
    return out


def line_chart(
    chart: str, title: str, series: Sequence[Series], since: dt.datetime, until: dt.datetime, empty: str
) -> str:
    """Lines over [since, until]: the y axis from 0 to a round maximum, four time labels (WIB, HH:MM)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_ceiling(max((v for s in series for _, v in s.points), default=0))
    span = max((until - since).total_seconds(), 1.0)
    out = _head(chart, title) + _y_axis(top, plot_w, plot_h)
    for i in range(5):
        at = since + (until - since) * i / 4
        x = LEFT + plot_w * i / 4
        anchor = ("start", "middle", "middle", "middle", "end")[i]  # the edge labels stay inside the chart
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}" font-size="11" fill="#6b7785">'
            f"{at.astimezone(WIB):%H:%M}</text>"
        )
    out.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end" font-size="11" fill="#6b7785">WIB</text>')
    out += _legend(series)
    drawn = False
    for s in series:
        if not s.points:
            continue
        xy = " ".join(
            f"{LEFT + plot_w * (t - since).total_seconds() / span:.1f},{TOP + plot_h - plot_h * v / top:.1f}"
            for t, v in s.points
        )
        total = sum(v for _, v in s.points)
        drawn = drawn or total > 0
        out.append(
            f'<polyline class="series" data-series={quoteattr(s.key)} data-total="{total:.0f}" points="{xy}" '
            f'fill="none" stroke="{s.color}" stroke-width="2"><title>{escape(s.label)}</title></polyline>'
        )
    if not drawn:
        out.append(_empty(empty))
    out.append("</svg>")
    return "".join(out)


def bar_chart(chart: str, title: str, bars: Sequence[tuple[str, int]], color: str, empty: str) -> str:
    """A histogram: one bar per (label, count), in the order given, each bar's count above it."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_ceiling(max((n for _, n in bars), default=0))
    out = _head(chart, title) + _y_axis(top, plot_w, plot_h)
    slot = plot_w / max(len(bars), 1)
    for i, (label, n) in enumerate(bars):
        h = plot_h * n / top
        x = LEFT + slot * i + slot * 0.15
        out.append(
            f'<rect class="bar" data-count="{n}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(label)}: {n}</title></rect>'
        )
        if n:
            out.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{TOP + plot_h - h - 3:.1f}" text-anchor="middle" '
                f'font-size="11" fill="#1c2733">{_number(n)}</text>'
            )
        out.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="10" '
            f'fill="#6b7785">{escape(label)}</text>'
        )
    if not any(n for _, n in bars):
        out.append(_empty(empty))
    out.append("</svg>")
    return "".join(out)


def _empty(text: str) -> str:
    return (
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="13" '
        f'fill="#6b7785">{escape(text)}</text>'
    )

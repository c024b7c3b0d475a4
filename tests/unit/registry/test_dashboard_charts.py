"""The dashboard's charts without a database: series from grouped rows and samples (an empty minute is
a zero), round axis maxima, and SVG that parses, draws one line per series in the right place, escapes
its texts and carries no style attribute (the page's CSP allows no inline style)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registry.dashboard import charts
from services.registry.dashboard.charts import HEIGHT, LEFT, TOP, Series
from services.registry.dashboard.wave import APPLIED_BY, WaveSampler
from shared.topics import PARTICIPANT_EVENTS

T = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
M, S = dt.timedelta(minutes=1), dt.timedelta(seconds=1)
SVG = "{http://www.w3.org/2000/svg}"


def test_buckets_cover_the_window_aligned_on_its_start() -> None:
    assert charts.buckets(T, T + 3 * M, M) == [T, T + M, T + 2 * M]
    assert charts.buckets(T, T + 90 * S, M) == [T, T + M]  # a partial last minute is a bucket


def test_fill_puts_zero_where_no_row_was_and_drops_keys_not_asked_for() -> None:
    rows = [(T, "APPROVED", 2), (T + 2 * M, "APPROVED", 1), (T, "REJECTED", 4), (T, "RECEIVED", 9)]
    out = charts.fill(rows, ["APPROVED", "REJECTED", "EXPIRED"], charts.buckets(T, T + 3 * M, M))
    assert out["APPROVED"] == [(T, 2.0), (T + M, 0.0), (T + 2 * M, 1.0)]
    assert out["REJECTED"] == [(T, 4.0), (T + M, 0.0), (T + 2 * M, 0.0)]
    assert out["EXPIRED"] == [(T, 0.0), (T + M, 0.0), (T + 2 * M, 0.0)]
    assert "RECEIVED" not in out


def test_last_per_bucket_thins_samples_to_one_a_minute() -> None:
    samples = [(T - S, 1.0), (T, 2.0), (T + 30 * S, 3.0), (T + 65 * S, 4.0), (T + 119 * S, 5.0)]
    assert charts.last_per_bucket(samples, T, M) == [(T + 30 * S, 3.0), (T + 119 * S, 5.0)]


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (1.5, 2), (3, 5), (7, 10), (10, 10), (11, 20), (230, 500), (1356, 2000)]
)
def test_the_axis_ends_at_a_round_number(value: float, top: float) -> None:
    assert charts.nice_ceiling(value) == top


@given(st.floats(min_value=0, max_value=1e12))
def test_the_axis_top_is_never_below_the_data(value: float) -> None:
    assert charts.nice_ceiling(value) >= value


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed, whatever the labels held
    assert root.tag == SVG + "svg"
    assert not [e for e in root.iter() if "style" in e.attrib], "no inline style under the CSP"
    return root


def test_a_line_chart_draws_each_series_at_its_values() -> None:
    approved = [(T, 0.0), (T + M, 5.0), (T + 2 * M, 10.0)]
    svg = charts.line_chart(
        "decisions",
        "Keputusan <per> menit & hasil",
        [Series("APPROVED", "Disetujui", approved, "#1e7d45"), Series("EXPIRED", "Kedaluwarsa", [], "#6b7785")],
        T,
        T + 2 * M,
        "kosong",
    )
    root = _parse(svg)
    assert root.get("data-chart") == "decisions"
    assert root.find(SVG + "title").text == "Keputusan <per> menit & hasil"  # escaped, read back whole
    [line] = root.iter(SVG + "polyline")  # a series without points draws nothing
    assert (line.get("data-series"), line.get("data-total")) == ("APPROVED", "15")
    points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    bottom = HEIGHT - 40
    assert points[0] == (LEFT, bottom)  # zero at the start of the window
    assert points[2][1] == TOP  # 10 is the axis top (nice_ceiling(10) = 10)
    assert points[0][0] < points[1][0] < points[2][0]
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "Disetujui" in texts and "Kedaluwarsa" in texts  # the legend names every series
    assert "08:00" in texts and "08:02" in texts  # 01:00 UTC is 08:00 WIB
    assert "kosong" not in texts


def test_a_chart_without_data_says_so() -> None:
    svg = charts.line_chart("messages", "Pesan", [Series("SENT", "Terkirim", [(T, 0.0)], "#000")], T, T + M, "Kosong.")
    assert "Kosong." in [t.text for t in _parse(svg).iter(SVG + "text")]


def test_a_histogram_draws_one_bar_per_bucket_in_order() -> None:
    svg = charts.bar_chart("to_active", "Waktu", [("<1 dtk", 0), ("1–5 dtk", 4), ("<script>", 2)], "#0b4f6c", "-")
    root = _parse(svg)
    bars = [r for r in root.iter(SVG + "rect") if r.get("class") == "bar"]
    assert [b.get("data-count") for b in bars] == ["0", "4", "2"]
    assert float(bars[1].get("height")) == 2 * float(bars[2].get("height"))
    assert "<script>" in [t.text for t in root.iter(SVG + "text")]  # a text, never markup
    assert "<script>" not in svg


def test_wave_samples_become_progress_from_the_first_sample_in_view_and_lag_per_group() -> None:
    wave = WaveSampler(keep=dt.timedelta(minutes=10), every=5 * S)

    def kafka(produced: int, applied: int, lag: dict[str, int]) -> dict:
        offsets = {"topics": {PARTICIPANT_EVENTS.name: produced}, "groups": {APPLIED_BY: applied}}
        return {"offsets": offsets, "consumer_lag": lag}

    wave.record(T, kafka(100, 100, {"registry-x": 0}))
    wave.record(T + 2 * S, kafka(999, 999, {}))  # within `every` of the last sample: skipped
    wave.record(T + 5 * S, kafka(600, 300, {"registry-x": 300, "notifier-y": 50}))
    wave.record(T + 10 * S, {"dead_letters": {}, "consumer_lag": {}, "offsets": {}})  # Kafka away: no sample
    wave.record(T + 15 * S, kafka(600, 600, {"registry-x": 0}))
    progress = wave.progress(T)
    assert progress["in"] == [(T, 0.0), (T + 5 * S, 500.0), (T + 15 * S, 500.0)]
    assert progress["applied"] == [(T, 0.0), (T + 5 * S, 200.0), (T + 15 * S, 500.0)]
    lag = wave.lag(T)
    assert lag["registry-x"] == [(T, 0.0), (T + 5 * S, 300.0), (T + 15 * S, 0.0)]
    assert lag["notifier-y"] == [(T, 0.0), (T + 5 * S, 50.0), (T + 15 * S, 0.0)]
    wave.record(T + 11 * M, kafka(700, 700, {}))
    assert [s.at for s in wave.samples] == [T + 11 * M]  # older than `keep`: forgotten


@pytest.mark.parametrize(
    ("top", "labels"),
    [
        (2, ["0", "0,5", "1", "1,5", "2"]),
        (1, ["0", "0,2", "0,4", "0,6", "0,8", "1"]),
        (5, ["0", "1", "2", "3", "4", "5"]),
        (10, ["0", "2", "4", "6", "8", "10"]),
        (2000, ["0", "500", "1.000", "1.500", "2.000"]),
    ],
)
def test_axis_labels_are_written_the_indonesian_way(top: float, labels: list[str]) -> None:
    svg = charts.line_chart("x", "X", [Series("a", "A", [(T, float(top))], "#000")], T, T + M, "-")
    texts = [t.text for t in _parse(svg).iter(SVG + "text")]
    assert all(label in texts for label in labels), texts


async def test_throttled_computes_again_only_after_its_interval() -> None:
    from services.registry.dashboard.live import Throttled

    now, calls = [0.0], []

    async def compute() -> int:
        calls.append(now[0])
        return len(calls)

    throttled = Throttled(5.0, lambda: now[0])
    assert [await throttled.get(compute) for _ in range(3)] == [1, 1, 1]
    now[0] = 4.9
    assert await throttled.get(compute) == 1
    now[0] = 5.0
    assert await throttled.get(compute) == 2
    assert calls == [0.0, 5.0]

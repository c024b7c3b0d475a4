"""testkit.clock.published_at: a record's CreateTime on perf_counter's scale, never later than its reading."""

from __future__ import annotations

from testkit.clock import published_at


def test_a_record_published_before_it_was_read_keeps_its_publication_time() -> None:
    # Read at perf 100.0 when the wall clock said 5,000.0: published at wall 4,998.5 is perf 98.5.
    assert published_at(4_998_500, read_perf=100.0, read_epoch=5_000.0) == 98.5


def test_a_record_stamped_after_its_reading_counts_as_read_then() -> None:
    # The wall clock moved against perf_counter: the stamp says "later than now", which cannot be.
    assert published_at(5_030_000, read_perf=100.0, read_epoch=5_000.0) == 100.0

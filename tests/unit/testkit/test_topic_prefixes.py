"""Topic prefixes: the sweep of leftover test topics never deletes the topics of a test run going on beside this
one, nor a benchmark's or chaos run's."""

from __future__ import annotations

import time

from testkit.infra import LEFTOVER_AFTER_S, is_leftover_test_topic, new_run_prefix, new_test_prefix


def test_a_fresh_prefix_of_another_run_is_left_alone() -> None:
    now = time.time()
    for kind in ("t", "e2e"):
        assert not is_leftover_test_topic(new_test_prefix(kind) + "participant-events", now)


def test_a_prefix_older_than_any_session_is_swept() -> None:
    later = time.time() + LEFTOVER_AFTER_S + 60
    assert is_leftover_test_topic(new_test_prefix("t") + "decisions", later)
    assert is_leftover_test_topic(new_test_prefix("e2e") + "decisions.dlq", later)


def test_prefixes_from_before_the_stamp_are_swept_and_real_topics_never() -> None:
    now = time.time()
    assert is_leftover_test_topic("t0123456789.decisions", now)
    assert is_leftover_test_topic("e2e01234567.decisions", now)
    for name in ("decisions", "participant-events", "bench-1234.decisions", "chaos-0123abcd.decisions"):
        assert not is_leftover_test_topic(name, now)


def test_a_benchmark_or_chaos_run_prefix_is_never_swept_and_prefixes_are_unique() -> None:
    later = time.time() + 10 * LEFTOVER_AFTER_S
    prefix = new_run_prefix("chaos")
    assert prefix.startswith("chaos-") and prefix.endswith(".")
    assert not is_leftover_test_topic(prefix + "pbi.participant-events.v1", later)
    assert len({new_test_prefix("t") for _ in range(100)}) == 100


def test_a_test_prefix_names_its_creation_time() -> None:
    prefix = new_test_prefix("e2e", now=0x6A000000)
    assert prefix.startswith("e2e6a000000") and prefix.endswith(".") and len(prefix) == len("e2e") + 8 + 6 + 1
    assert not is_leftover_test_topic(prefix + "x", 0x6A000000 + LEFTOVER_AFTER_S)
    assert is_leftover_test_topic(prefix + "x", 0x6A000000 + LEFTOVER_AFTER_S + 1)

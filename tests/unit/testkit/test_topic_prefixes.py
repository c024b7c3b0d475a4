"""Topic prefixes: the sweep of leftover test topics never deletes the topics of a test run going on beside this
one, nor a benchmark's or chaos run's."""

from __future__ import annotations

import time

from testkit.infra import (
    LEFTOVER_AFTER_S,
    RUN_LEFTOVER_AFTER_S,
    UNSTAMPED_TEST_TOPIC,
    is_leftover_test_topic,
    new_run_prefix,
    new_test_prefix,
)


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
    # Shapes found on a broker that ran many sessions: each one a leftover no code makes any longer.
    for name in (
        "t0123456789.decisions",
        "e2e01234567.decisions",
        "chaos-0123abcd.decisions",
        "send-30bb4fc6.pbi.privacy-events.v1",
        "ab14b689.pbi.participant-events.v1.dlq",
        "b010a8570.pbi.decisions.v1",
        "bench1a2b3c.pbi.decisions.v1",
        "benchreg1a2b3c.pbi.decisions.v1",
        "rows2a8109a5.pbi.appeals.v1",
        "demo6e4abe.pbi.appeals.v1",
        "idle1.pbi.decisions.v1",
        "m3598db.pbi.decisions.v1",
    ):
        assert is_leftover_test_topic(name, now), name
    for name in ("decisions", "participant-events", "pbi.decisions.v1", "pbi.decisions.v1.dlq", "bench-1234.decisions"):
        assert not is_leftover_test_topic(name, now), name


def test_a_run_prefix_is_swept_only_once_older_than_any_run() -> None:
    now = time.time()
    prefix = new_run_prefix("chaos", now=now)
    assert prefix.startswith("chaos-") and prefix.endswith(".")
    assert not UNSTAMPED_TEST_TOPIC.match(prefix + "pbi.decisions.v1")
    assert not is_leftover_test_topic(prefix + "pbi.participant-events.v1", now + LEFTOVER_AFTER_S + 60)
    assert not is_leftover_test_topic(prefix + "pbi.participant-events.v1", now + RUN_LEFTOVER_AFTER_S - 60)
    assert is_leftover_test_topic(prefix + "pbi.participant-events.v1", now + RUN_LEFTOVER_AFTER_S + 60)
    assert len({new_test_prefix("t") for _ in range(100)}) == 100
    assert len({new_run_prefix("bench") for _ in range(100)}) == 100


def test_a_test_prefix_names_its_creation_time() -> None:
    prefix = new_test_prefix("e2e", now=0x6A000000)
    assert prefix.startswith("e2e6a000000") and prefix.endswith(".") and len(prefix) == len("e2e") + 8 + 8 + 1
    assert not is_leftover_test_topic(prefix + "x", 0x6A000000 + LEFTOVER_AFTER_S)
    assert is_leftover_test_topic(prefix + "x", 0x6A000000 + LEFTOVER_AFTER_S + 1)
    # Made before the random part had 8 digits (6): still told by their stamp.
    for old in ("e2e6a000000abcdef.x", "bench-6a000000abcdef.x"):
        assert not is_leftover_test_topic(old, 0x6A000000 + 60), old
        assert is_leftover_test_topic(old, 0x6A000000 + RUN_LEFTOVER_AFTER_S + 60), old

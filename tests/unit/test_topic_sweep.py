"""The sweep of leftover test topics never deletes the topics of a test run going on beside this one."""

from __future__ import annotations

import time

from tests.conftest import LEFTOVER_AFTER_S, is_leftover_test_topic, new_test_prefix


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

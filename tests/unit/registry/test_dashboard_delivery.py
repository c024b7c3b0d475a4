"""When a message was sent, delivered and failed (the dashboard's messages over time), from the
notifier's updates: a later state implies the earlier ones, and the first report of each moment stays."""

from __future__ import annotations

import datetime as dt

import pytest

from services.registry.domain.delivery import moments
from shared.enums import DeliveryState as D

T = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("updates", "expected"),
    [
        ([(D.QUEUED, T)], (None, None, None)),
        ([(D.SENT, T)], (T, None, None)),
        ([(D.SENT, T), (D.DELIVERED, T + S)], (T, T + S, None)),
        ([(D.DELIVERED, T + S)], (T + S, T + S, None)),  # its SENT never reported: delivered means sent
        ([(D.READ, T + 2 * S)], (T + 2 * S, T + 2 * S, None)),  # read means delivered too
        ([(D.SENT, T), (D.DELIVERED, T + S), (D.READ, T + 2 * S)], (T, T + S, None)),
        ([(D.QUEUED, T), (D.FAILED, T + S)], (None, None, T + S)),
        ([(D.SENT, T), (D.SENT, T + 9 * S)], (T, None, None)),  # reported again later: the first stands
        ([(D.SENT, T + 9 * S), (D.SENT, T)], (T, None, None)),  # out of order: the earliest stands
    ],
)
def test_moments_follow_the_updates(updates: list, expected: tuple) -> None:
    known: dict | None = None
    for state, at in updates:
        known = moments(state, at, known)
    assert known is not None
    assert (known["sent_at"], known["delivered_at"], known["failed_at"]) == expected

"""When a message was sent, delivered and failed (the dashboard's messages over time), from the
notifier's updates: a later state implies the earlier ones, and the first report of each moment stays."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from services.registry.domain.delivery import merge, moments
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


def _update(state: D, at: dt.datetime) -> dict:
    return {"message_id": 1, "state": state.value, "updated_at": at, **moments(state, at)}


def test_a_messages_updates_end_in_the_same_row_in_any_order_and_any_number_of_times() -> None:
    """No inbox claim is needed for them: the latest report's state (on a tie the later state), the latest
    time, the first report of each moment."""
    updates = [_update(D.SENT, T), _update(D.DELIVERED, T + S), _update(D.READ, T + S), _update(D.SENT, T + 2 * S)]
    rows = set()
    for order in itertools.permutations(updates + updates[:2]):
        row: dict | None = None
        for u in order:
            row = merge(row, u)
        assert row is not None
        rows.add(tuple(sorted(row.items())))
    [row] = [dict(r) for r in rows]
    assert (row["state"], row["updated_at"]) == ("SENT", T + 2 * S)
    assert (row["sent_at"], row["delivered_at"], row["failed_at"]) == (T, T + S, None)

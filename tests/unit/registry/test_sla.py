"""The emergency SLA board only moves forward; counts of the board."""

from __future__ import annotations

import pytest

from services.registry.domain.sla import advance_sla, sla_board, sla_rank
from shared.enums import SlaState as S


@pytest.mark.parametrize(
    ("current", "incoming", "expected"),
    [
        (None, S.OK, S.OK),
        (S.OK, S.WARNING, S.WARNING),
        (S.WARNING, S.BREACHED, S.BREACHED),
        (S.OK, S.MET, S.MET),
        (S.WARNING, S.MET, S.MET),
        (S.BREACHED, S.MET, S.MET),
        (S.WARNING, S.OK, S.WARNING),  # a late OK never hides a warning
        (S.BREACHED, S.WARNING, S.BREACHED),
        (S.MET, S.BREACHED, S.MET),  # a timer that fired before the approval landed
        ("WARNING", S.WARNING, S.WARNING),  # redelivery
    ],
)
def test_sla_state_only_moves_forward(current: S | str | None, incoming: S, expected: S) -> None:
    assert advance_sla(current, incoming) is expected


def test_rank_orders_the_states() -> None:
    assert [sla_rank(s) for s in (None, S.OK, S.WARNING, S.BREACHED, S.MET)] == [0, 1, 2, 3, 4]


def test_board_counts_open_warning_breached_and_met() -> None:
    states = [S.OK, S.WARNING, S.WARNING, S.BREACHED, S.MET, None, "MET"]
    assert sla_board(states) == {"open": 4, "warning": 2, "breached": 1, "met": 2}

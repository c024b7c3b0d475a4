"""The emergency SLA state machine (shared.sla): only forward, BREACHED absorbs MET, CLOSED is final;
what a decision, a timer event and the clock say; the board's counts."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.enums import Outcome
from shared.enums import SlaState as S
from shared.sla import (
    SLA_ORDER,
    advance_sla,
    fold_sla,
    sla_by_clock,
    sla_counts,
    sla_of_decision,
    sla_of_event,
    sla_rank,
    sla_shown,
)

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
DEADLINE = T0 + 24 * H
WARNING = 12 * H


@pytest.mark.parametrize(
    ("current", "incoming", "expected"),
    [
        (None, S.OK, S.OK),
        (S.OK, S.WARNING, S.WARNING),
        (S.WARNING, S.BREACHED, S.BREACHED),
        (S.OK, S.MET, S.MET),
        (S.WARNING, S.MET, S.MET),
        (S.BREACHED, S.MET, S.BREACHED),  # approved after the breach: met late, stays BREACHED
        (S.MET, S.BREACHED, S.BREACHED),  # the breach timer fired before the approval landed
        (S.WARNING, S.OK, S.WARNING),  # a late OK never hides a warning
        (S.BREACHED, S.WARNING, S.BREACHED),
        (S.MET, S.WARNING, S.MET),
        (S.OK, S.CLOSED, S.CLOSED),  # rejected or expired
        (S.BREACHED, S.CLOSED, S.CLOSED),  # a rejected emergency leaves the board, not breached
        (S.CLOSED, S.BREACHED, S.CLOSED),  # a late timer never reopens it
        (S.CLOSED, S.WARNING, S.CLOSED),
        (S.CLOSED, S.MET, S.CLOSED),
        ("WARNING", S.WARNING, S.WARNING),  # redelivery
        (S.WARNING, None, S.WARNING),  # nothing new
    ],
)
def test_sla_state_only_moves_forward(current: S | str | None, incoming: S | None, expected: S) -> None:
    assert advance_sla(current, incoming) is expected


def test_rank_orders_the_states() -> None:
    assert [sla_rank(s) for s in (None, S.OK, S.WARNING, S.MET, S.BREACHED, S.CLOSED)] == [0, 1, 2, 3, 4, 5]
    assert set(SLA_ORDER) == set(S)


@given(st.lists(st.sampled_from(list(S)), max_size=12), st.randoms())
def test_fold_is_monotone_and_independent_of_order_and_repetition(events: list[S], rnd) -> None:  # type: ignore[no-untyped-def]
    # Never moves back, step by step.
    state = None
    for e in events:
        after = advance_sla(state, e)
        assert sla_rank(after) >= sla_rank(state)
        state = after
    # Any order, any duplication of the same events: the same end state.
    shuffled = events + rnd.sample(events, len(events) // 2)
    rnd.shuffle(shuffled)
    assert fold_sla(shuffled) == state
    if S.BREACHED in events and S.CLOSED not in events:
        assert state is S.BREACHED  # BREACHED absorbs MET
    if S.CLOSED in events:
        assert state is S.CLOSED  # final
    if S.MET in events and not {S.BREACHED, S.CLOSED} & set(events):
        assert state is S.MET


@given(st.lists(st.sampled_from(list(S)), min_size=1, max_size=8), st.sampled_from(list(S)))
def test_a_closed_request_never_shows_warning_or_breached(before: list[S], late: S) -> None:
    assert advance_sla(fold_sla([*before, S.CLOSED]), late) is S.CLOSED


@pytest.mark.parametrize(
    ("outcome", "decided_at", "expected"),
    [
        (Outcome.APPROVED, T0 + 2 * H, S.MET),
        (Outcome.APPROVED, DEADLINE, S.MET),  # at the deadline: still within 24 hours
        (Outcome.APPROVED, T0 + 30 * H, S.BREACHED),  # approved at 30 h: met late
        (Outcome.REJECTED, T0 + H, S.CLOSED),
        (Outcome.REJECTED, T0 + 30 * H, S.CLOSED),
        (Outcome.EXPIRED, T0 + 30 * H, S.CLOSED),
        (Outcome.PENDING, T0 + 30 * H, None),
    ],
)
def test_what_a_decision_says_of_the_clock(outcome: Outcome, decided_at: dt.datetime, expected: S | None) -> None:
    assert sla_of_decision(outcome, decided_at, DEADLINE) is expected
    assert sla_of_decision(outcome, decided_at, None) is None  # not an emergency


@pytest.mark.parametrize(
    ("state", "at", "expected"),
    [(S.MET, T0 + H, S.MET), (S.MET, T0 + 25 * H, S.BREACHED), (S.WARNING, T0 + 12 * H, S.WARNING)],
)
def test_a_met_stamped_after_the_deadline_is_met_late(state: S, at: dt.datetime, expected: S) -> None:
    assert sla_of_event(state, at, DEADLINE) is expected


@pytest.mark.parametrize(
    ("now", "expected"), [(T0, S.OK), (T0 + 11 * H, S.OK), (T0 + 12 * H, S.WARNING), (DEADLINE, S.BREACHED)]
)
def test_the_clock_alone(now: dt.datetime, expected: S) -> None:
    assert sla_by_clock(T0, DEADLINE, now, WARNING) is expected


@pytest.mark.parametrize(
    ("status", "stored", "decided_at", "now", "expected"),
    [
        ("RECEIVED", "OK", None, T0 + H, S.OK),
        ("RECEIVED", "OK", None, T0 + 12 * H, S.WARNING),  # the clock, before the timer event arrives
        ("PENDING", "WARNING", None, T0 + 13 * H, S.WARNING),
        ("PENDING", "OK", None, DEADLINE, S.BREACHED),
        ("PENDING", "BREACHED", None, T0 + H, S.BREACHED),  # the stored state never goes back
        ("PENDING", "MET", None, T0 + 30 * H, S.MET),  # MET seen before its decision: the clock stopped
        ("APPROVED", "WARNING", T0 + 13 * H, T0 + 30 * H, S.MET),
        ("APPROVED", "MET", T0 + 13 * H, T0 + 30 * H, S.MET),  # viewed after the deadline: still MET
        ("APPROVED", "BREACHED", T0 + 30 * H, T0 + 31 * H, S.BREACHED),  # a late approval erases no breach
        ("APPROVED", "OK", T0 + 30 * H, T0 + 31 * H, S.BREACHED),  # ... even before the timer event came
        ("APPROVED", "BREACHED", None, T0 + 31 * H, S.BREACHED),
        ("REJECTED", "BREACHED", T0 + 30 * H, T0 + 31 * H, S.CLOSED),
        ("REJECTED", "MET", T0 + H, T0 + 30 * H, S.CLOSED),
        ("EXPIRED", "WARNING", T0 + 30 * H, T0 + 31 * H, S.CLOSED),
        ("PENDING", "CLOSED", None, T0 + 30 * H, S.CLOSED),  # closed before its decision arrived
    ],
)
def test_state_shown(status: str, stored: str, decided_at: dt.datetime | None, now: dt.datetime, expected: S) -> None:
    assert sla_shown(stored, status, DEADLINE, T0, now, decided_at, warning_after=WARNING) is expected


def test_no_state_without_a_clock() -> None:
    assert sla_shown(None, "RECEIVED", None, T0, T0, warning_after=WARNING) is None


def test_board_counts() -> None:
    groups = [
        (S.OK, True, 1),
        (S.WARNING, True, 2),
        (S.BREACHED, True, 1),  # breached and still waiting: open
        (S.BREACHED, False, 3),  # approved after the breach: met late, not open, still breached
        (S.MET, False, 1),
        ("MET", False, 1),
        (S.CLOSED, False, 5),
        (None, True, 7),  # not an emergency
    ]
    assert sla_counts(groups) == {"open": 4, "warning": 2, "breached": 4, "met": 2, "closed": 5, "met_late": 3}


def test_every_pair_of_states_has_one_join() -> None:
    for a, b in itertools.product([None, *S], repeat=2):
        assert advance_sla(a, b) == advance_sla(b, a)

"""The emergency SLA state machine (DOMAIN.md, timers; CONTRACT.md, `sla_state`), pure and in one place:
eligibility emits it, the registry's board and intake's read model fold it.

States only move forward. The fold is the maximum in one total order,

    OK < WARNING < MET < BREACHED < CLOSED

so any order or repetition of the same facts ends in the same state (a join: commutative, associative,
idempotent), and no late or redelivered event ever moves a request back:
- MET closes an OK or WARNING emergency (approved in time);
- BREACHED absorbs MET: approved after the breach stays BREACHED ("met late"), never MET;
- CLOSED (rejected or expired) absorbs everything: it leaves the board and never shows WARNING or
  BREACHED again, whatever timer event arrives late.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from shared.enums import Outcome, SlaState

SLA_ORDER: tuple[SlaState, ...] = (SlaState.OK, SlaState.WARNING, SlaState.MET, SlaState.BREACHED, SlaState.CLOSED)
# A clock still runs only in these states; MET, BREACHED (met late or not) and CLOSED stop reading it.
# The clock's lengths (deadline, warning) are not here: they are eligibility's policy, which its timers follow
# and which a reader passes in (intake: services.intake.policy).
RUNNING = frozenset({SlaState.OK, SlaState.WARNING})


def sla_rank(state: SlaState | str | None) -> int:
    """0 for no state yet, then the position in SLA_ORDER (1..5)."""
    return 0 if state is None else SLA_ORDER.index(SlaState(state)) + 1


def advance_sla(current: SlaState | str | None, incoming: SlaState | str | None) -> SlaState | None:
    """The state after `incoming`: the further along of the two."""
    best = incoming if sla_rank(incoming) >= sla_rank(current) else current
    return None if best is None else SlaState(best)


def fold_sla(states: Iterable[SlaState | str | None], start: SlaState | str | None = None) -> SlaState | None:
    state = None if start is None else SlaState(start)
    for incoming in states:
        state = advance_sla(state, incoming)
    return state


def sla_of_event(state: SlaState, occurred_at: dt.datetime, deadline: dt.datetime) -> SlaState:
    """What a timer event says, judged by its own time: MET stamped after the deadline is met late."""
    return SlaState.BREACHED if state is SlaState.MET and occurred_at > deadline else state


def sla_of_decision(outcome: Outcome | str, decided_at: dt.datetime, deadline: dt.datetime | None) -> SlaState | None:
    """What a decision says about its emergency's clock: approved in time MET, approved late BREACHED,
    rejected or expired CLOSED; PENDING (or no clock) says nothing."""
    if deadline is None:
        return None
    outcome = Outcome(outcome)
    if outcome is Outcome.APPROVED:
        return SlaState.MET if decided_at <= deadline else SlaState.BREACHED
    if outcome in (Outcome.REJECTED, Outcome.EXPIRED):
        return SlaState.CLOSED
    return None


def sla_by_clock(
    received_at: dt.datetime, deadline: dt.datetime, now: dt.datetime, warning_after: dt.timedelta
) -> SlaState:
    """What the clock alone says of an undecided emergency."""
    if now >= deadline:
        return SlaState.BREACHED
    return SlaState.WARNING if now >= received_at + warning_after else SlaState.OK


def sla_shown(
    stored: SlaState | str | None,
    status: str,
    deadline: dt.datetime | None,
    received_at: dt.datetime,
    now: dt.datetime,
    decided_at: dt.datetime | None = None,
    *,
    warning_after: dt.timedelta,
) -> SlaState | None:
    """The state to show for a request: the stored fold, the request's final status judged at its decision
    time `decided_at` (approved after the deadline BREACHED), and, while the clock still runs, what the
    clock says by now (before the timer event has arrived)."""
    if deadline is None:
        return None
    state = advance_sla(SlaState.OK, stored)
    if status in (Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED):
        # The read model folds each decision's own state; this covers a row decided before it did
        # (an approval without its decision time counts as in time, as it was shown then).
        return advance_sla(state, sla_of_decision(status, decided_at or received_at, deadline))
    if state in RUNNING:
        return advance_sla(state, sla_by_clock(received_at, deadline, now, warning_after))
    return state


def sla_counts(groups: Iterable[tuple[SlaState | str | None, bool, int]]) -> dict[str, int]:
    """The board's counts from (state, still undecided, how many) groups: open clocks (OK, WARNING, or
    BREACHED while undecided), warning, breached (met late included), met_late, met, closed."""
    counts = {"open": 0, "warning": 0, "breached": 0, "met": 0, "closed": 0, "met_late": 0}
    for raw, undecided, n in groups:
        if raw is None:
            continue
        s = SlaState(raw)
        if s in RUNNING or (s is SlaState.BREACHED and undecided):
            counts["open"] += n
        if s is SlaState.BREACHED and not undecided:
            counts["met_late"] += n  # decided after the breach: only an approval keeps BREACHED
        key = {SlaState.WARNING: "warning", SlaState.BREACHED: "breached", SlaState.MET: "met"}.get(s)
        key = key or ("closed" if s is SlaState.CLOSED else None)
        if key:
            counts[key] += n
    return counts

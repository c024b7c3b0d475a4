"""Order rules of the request read model: what a late or duplicate event may still change."""

from __future__ import annotations

from shared.enums import Outcome, SlaState

FINAL_OUTCOMES = frozenset({Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED})
SLA_RANK = {SlaState.OK: 0, SlaState.WARNING: 1, SlaState.BREACHED: 2, SlaState.MET: 3}


def statuses_a_decision_may_replace(outcome: Outcome) -> list[str]:
    """A PENDING decision never reopens a decided request; a final outcome replaces anything
    (among final outcomes the newer one wins, which the caller checks on occurred_at)."""
    if outcome in FINAL_OUTCOMES:
        return ["RECEIVED", "PENDING", *sorted(FINAL_OUTCOMES)]
    return ["RECEIVED", "PENDING"]


def sla_states_below(state: SlaState) -> list[str]:
    """The SLA only moves forward (OK -> WARNING -> BREACHED, MET closes it): the states `state` may replace."""
    return [s.value for s, rank in SLA_RANK.items() if rank < SLA_RANK[state]]

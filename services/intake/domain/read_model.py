"""Order rules of the request read model: what a late or duplicate event may still change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from shared.enums import Outcome, SlaState
from shared.events import AppealUpdated, EmergencySlaChanged, Event, ReactivationDecided
from shared.sla import SLA_ORDER, sla_of_decision, sla_of_event

T = TypeVar("T")

FINAL_OUTCOMES = frozenset({Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED})
# The one order of shared.sla: OK < WARNING < MET < BREACHED < CLOSED.
SLA_RANK = {s: rank for rank, s in enumerate(SLA_ORDER)}


def statuses_a_decision_may_replace(outcome: Outcome) -> list[str]:
    """A PENDING decision never reopens a decided request; a final outcome replaces anything
    (among final outcomes the newer one wins, which the caller checks on occurred_at)."""
    if outcome in FINAL_OUTCOMES:
        return ["RECEIVED", "PENDING", *sorted(FINAL_OUTCOMES)]
    return ["RECEIVED", "PENDING"]


def sla_states_below(state: SlaState) -> list[str]:
    """The SLA only moves forward (shared.sla): the states `state` may replace."""
    return [s.value for s, rank in SLA_RANK.items() if rank < SLA_RANK[state]]


def in_rounds(request_ids: list[T]) -> list[list[int]]:
    """Positions of a batch's events split into rounds that hold each request at most once, in
    order: the first event of every request, then the second... One set-based UPDATE per round
    then gives exactly what applying the events one by one gives (almost always a single round)."""
    rounds: list[list[int]] = []
    seen: dict[T, int] = {}
    for position, request_id in enumerate(request_ids):
        k = seen.get(request_id, 0)
        seen[request_id] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(position)
    return rounds


def furthest_sla(states: list[tuple[T, SlaState]]) -> dict[T, SlaState]:
    """The SLA state each request ends at after these events: only ever forward, so the highest wins."""
    out: dict[T, SlaState] = {}
    for request_id, state in states:
        if request_id not in out or SLA_RANK[state] > SLA_RANK[out[request_id]]:
            out[request_id] = state
    return out


def sla_changes(events: list[Event]) -> list[tuple[uuid.UUID, SlaState]]:
    """What a batch says of each request's SLA: the timer events (a MET stamped after the deadline is met
    late) and the final decisions of emergencies (approved late BREACHED, rejected or expired CLOSED)."""
    out: list[tuple[uuid.UUID, SlaState]] = []
    for e in events:
        if isinstance(e, EmergencySlaChanged):
            out.append((e.request_id, sla_of_event(e.sla_state, e.occurred_at, e.sla_deadline)))
        elif isinstance(e, ReactivationDecided):
            state = sla_of_decision(e.outcome, e.decided_at, e.sla_deadline)
            if state is not None:
                out.append((e.request_id, state))
    return out


@dataclass(frozen=True)
class ReadModelChanges:
    """What a batch asks of the read model, each part applied by the order rules above."""

    decision_rounds: list[list[ReactivationDecided]]  # each round holds a request at most once, in order
    sla: dict[uuid.UUID, SlaState]  # the furthest state each request's SLA reaches
    appeals: list[AppealUpdated]  # in order (rare: one statement or two each)


def changes(events: Sequence[Event]) -> ReadModelChanges:
    decisions = [e for e in events if isinstance(e, ReactivationDecided)]
    rounds = [[decisions[i] for i in r] for r in in_rounds([d.request_id for d in decisions])]
    appeals = [e for e in events if isinstance(e, AppealUpdated)]
    return ReadModelChanges(rounds, furthest_sla(sla_changes(list(events))), appeals)

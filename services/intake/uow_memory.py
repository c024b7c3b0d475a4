"""Intake's read-model unit of work in memory (uow.py has the protocol and PostgreSQL's): the same rules
over dicts, for the handler cases run against both. A block works on a copy, swapped in when it ends
without an error, so a failed batch leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace
from typing import TypeVar

from services.intake.domain.read_model import ReadModelChanges, sla_states_below, statuses_a_decision_may_replace
from services.intake.uow import appeal_shown
from shared.events import AppealUpdated, Event, ReactivationDecided
from shared.uow import CopyUnit, claim_in_memory

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class RequestState:
    """A row of intake.requests, as far as the read model changes it (the API writes the rest)."""

    status: str = "RECEIVED"
    reasons: tuple[str, ...] = ()
    decided_at: dt.datetime | None = None
    last_event_at: dt.datetime | None = None
    sla_state: str | None = None


@dataclass(frozen=True)
class AppealState:
    request_id: uuid.UUID
    status: str
    reasons: tuple[str, ...] = ()
    decided_at: dt.datetime | None = None
    last_event_at: dt.datetime | None = None


@dataclass
class MemoryReadModel:
    requests: dict[uuid.UUID, RequestState] = field(default_factory=dict)
    appeals: dict[uuid.UUID, AppealState] = field(default_factory=dict)
    processed: set[uuid.UUID] = field(default_factory=set)


class MemoryUnitOfWork(CopyUnit[MemoryReadModel]):
    async def claim(self, events: list[E]) -> list[E]:
        return claim_in_memory(self.work.processed, events)

    async def apply(self, changes: ReadModelChanges) -> None:
        for appeal in changes.appeals:
            self._appeal(appeal)
        for round_ in changes.decision_rounds:
            for d in round_:
                self._decision(d)
        for request_id, state in changes.sla.items():
            row = self.work.requests.get(request_id)
            if row is not None and (row.sla_state is None or row.sla_state in sla_states_below(state)):
                self.work.requests[request_id] = replace(row, sla_state=state.value)

    def _decision(self, d: ReactivationDecided) -> None:
        row = self.work.requests.get(d.request_id)
        if row is None or (row.last_event_at is not None and row.last_event_at > d.occurred_at):
            return
        if row.status in statuses_a_decision_may_replace(d.outcome):
            reasons = tuple(r.value for r in d.reasons)
            self.work.requests[d.request_id] = replace(
                row, status=d.outcome.value, reasons=reasons, decided_at=d.decided_at, last_event_at=d.occurred_at
            )

    def _appeal(self, e: AppealUpdated) -> None:
        shown, creates = appeal_shown(e)
        taken = {a.request_id for a in self.work.appeals.values()}
        if creates and e.appeal_id not in self.work.appeals and e.request_id not in taken:
            assert e.request_id is not None
            self.work.appeals[e.appeal_id] = AppealState(e.request_id, shown.value, tuple(e.reasons))
        row = self.work.appeals.get(e.appeal_id)
        if row is not None and (row.last_event_at is None or row.last_event_at <= e.occurred_at):
            self.work.appeals[e.appeal_id] = replace(
                row, status=shown.value, reasons=tuple(e.reasons), decided_at=e.decided_at, last_event_at=e.occurred_at
            )

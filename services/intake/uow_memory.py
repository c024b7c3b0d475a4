"""Intake's read-model unit of work in memory (uow.py has the protocol and PostgreSQL's): the same rules
over dicts, for the handler cases run against both (no inbox: each effect's own guard makes a redelivery
change nothing). A block works on a copy, swapped in when it ends without an error, so a failed batch
leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace

from services.intake.domain.read_model import ReadModelChanges, sla_states_below, statuses_a_decision_may_replace
from services.intake.uow import appeal_shown
from shared.events import AppealUpdated, ReactivationDecided
from shared.uow import CopyUnit


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
    # Each request row's version, counted as PostgreSQL's xmin changes: once per write (a no-op update too).
    versions: dict[uuid.UUID, int] = field(default_factory=dict)


class MemoryUnitOfWork(CopyUnit[MemoryReadModel]):
    async def apply(self, changes: ReadModelChanges) -> None:
        for appeal in changes.appeals:
            self._appeal(appeal)
        for round_ in changes.decision_rounds:
            for d in round_:
                self._decision(d)
        for request_id, state in changes.sla.items():
            row = self.work.requests.get(request_id)
            if row is not None and (row.sla_state is None or row.sla_state in sla_states_below(state)):
                self._write(request_id, replace(row, sla_state=state.value))

    def _decision(self, d: ReactivationDecided) -> None:
        row = self.work.requests.get(d.request_id)
        if row is None or row.status not in statuses_a_decision_may_replace(d.outcome):
            return
        shown = (d.outcome.value, tuple(r.value for r in d.reasons), d.decided_at)
        if _newer(row.last_event_at, d.occurred_at, (row.status, row.reasons, row.decided_at) != shown):
            self._write(
                d.request_id,
                replace(row, status=shown[0], reasons=shown[1], decided_at=shown[2], last_event_at=d.occurred_at),
            )

    def _write(self, request_id: uuid.UUID, row: RequestState) -> None:
        self.work.requests[request_id] = row
        self.work.versions[request_id] = self.work.versions.get(request_id, 0) + 1

    def _appeal(self, e: AppealUpdated) -> None:
        shown, creates = appeal_shown(e)
        taken = {a.request_id for a in self.work.appeals.values()}
        if creates and e.appeal_id not in self.work.appeals and e.request_id not in taken:
            assert e.request_id is not None
            self.work.appeals[e.appeal_id] = AppealState(e.request_id, shown.value, tuple(e.reasons))
        row = self.work.appeals.get(e.appeal_id)
        values = (shown.value, tuple(e.reasons), e.decided_at)
        if row is None:
            return
        if _newer(row.last_event_at, e.occurred_at, (row.status, row.reasons, row.decided_at) != values):
            self.work.appeals[e.appeal_id] = replace(
                row, status=values[0], reasons=values[1], decided_at=values[2], last_event_at=e.occurred_at
            )


def _newer(shown_at: dt.datetime | None, occurred_at: dt.datetime, different: bool) -> bool:
    """uow.py's guard: newer than what the row shows, or as new and different (the same again: no write)."""
    return shown_at is None or shown_at < occurred_at or (shown_at == occurred_at and different)

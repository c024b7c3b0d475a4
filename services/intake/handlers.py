"""Keeps the request read model (GET /v1/reactivations/{id}) up to date from decisions and SLA events.
Idempotent and order-safe: an event older than what the row already reflects changes nothing.

A batch costs a few statements whatever its size: one claim of the event ids, one UPDATE ... FROM
unnest(...) per round of decisions (domain.read_model.in_rounds), one for the SLA states. One
UPDATE per event was the largest item in intake's profile while eligibility decided a backlog."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, or_, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import DateTime, String, Uuid

from services.intake.domain.read_model import (
    furthest_sla,
    in_rounds,
    sla_changes,
    sla_states_below,
    statuses_a_decision_may_replace,
)
from services.intake.store import SCHEMA, AppealView, ProcessedEvent, RequestView
from shared.db import transaction
from shared.enums import AppealStatus
from shared.events import AppealUpdated, Event, ReactivationDecided

R = RequestView.__table__
_TEXTS = ARRAY(String)

# A decision replaces the row's status only if it is not older than what the row reflects and the
# row's status is one it may replace (a PENDING never reopens a decided request).
APPLY_DECISIONS = text(
    f"""
    update {SCHEMA}.requests r
       set status = v.status, reasons = string_to_array(v.reasons, ','),
           decided_at = v.decided_at, last_event_at = v.occurred_at
      from unnest(:ids, :statuses, :reasons, :decided, :occurred, :may_replace)
           as v(request_id, status, reasons, decided_at, occurred_at, may_replace)
     where r.request_id = v.request_id
       and (r.last_event_at is null or r.last_event_at <= v.occurred_at)
       and r.status = any(string_to_array(v.may_replace, ','))
    """
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid)),
    bindparam("statuses", type_=_TEXTS),
    bindparam("reasons", type_=_TEXTS),
    bindparam("decided", type_=ARRAY(DateTime(timezone=True))),
    bindparam("occurred", type_=ARRAY(DateTime(timezone=True))),
    bindparam("may_replace", type_=_TEXTS),
)
# The SLA state only moves forward.
APPLY_SLA = text(
    f"""
    update {SCHEMA}.requests r
       set sla_state = v.sla_state
      from unnest(:ids, :states, :below) as v(request_id, sla_state, below)
     where r.request_id = v.request_id
       and (r.sla_state is null or r.sla_state = any(string_to_array(v.below, ',')))
    """
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid)),
    bindparam("states", type_=_TEXTS),
    bindparam("below", type_=_TEXTS),
)


class ReadModel:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def on_events(self, events: list[Event]) -> None:
        async with transaction(self.sessions) as session:
            claimed = await session.execute(
                insert(ProcessedEvent.__table__)
                .values([{"event_id": e.event_id} for e in events])
                .on_conflict_do_nothing()
                .returning(ProcessedEvent.__table__.c.event_id)
            )
            fresh = {row[0] for row in claimed}
            todo = [e for e in events if e.event_id in fresh]
            await apply_appeals(session, [e for e in todo if isinstance(e, AppealUpdated)])
            decisions = [e for e in todo if isinstance(e, ReactivationDecided)]
            for round_ in in_rounds([d.request_id for d in decisions]):
                await session.execute(APPLY_DECISIONS, _decision_columns([decisions[i] for i in round_]))
            sla = furthest_sla(sla_changes(todo))
            if sla:
                await session.execute(
                    APPLY_SLA,
                    {
                        "ids": list(sla),
                        "states": [s.value for s in sla.values()],
                        "below": [",".join(sla_states_below(s)) for s in sla.values()],
                    },
                )


def _decision_columns(decisions: list[ReactivationDecided]) -> dict[str, list[Any]]:
    return {
        "ids": [d.request_id for d in decisions],
        "statuses": [d.outcome.value for d in decisions],
        "reasons": [",".join(r.value for r in d.reasons) for d in decisions],
        "decided": [d.decided_at for d in decisions],
        "occurred": [d.occurred_at for d in decisions],
        "may_replace": [",".join(statuses_a_decision_may_replace(d.outcome)) for d in decisions],
    }


async def apply_appeals(session: AsyncSession, appeals: list[AppealUpdated]) -> None:
    """What eligibility made of appeals (rare: a statement or two each). A WhatsApp appeal intake never saw
    gets its row; one eligibility refused shows DISMISSED (the refusal its reason), and a refused appeal
    intake never saw (a mistyped reference) is no appeal at all. An older update never replaces a newer."""
    t = AppealView.__table__
    for e in appeals:
        refused = e.status is AppealStatus.REFUSED
        shown = AppealStatus.DISMISSED if refused else e.status
        if not refused and e.request_id is not None:
            row = {
                "appeal_id": e.appeal_id,
                "request_id": e.request_id,
                "nik": e.nik,
                "channel": e.channel.value,
                "status": shown.value,
                "reasons": list(e.reasons),
                "received_at": e.received_at,
                "due_at": e.due_at or e.received_at,
            }
            # No conflict target: another appeal of the same request (the one eligibility opened first) wins.
            await session.execute(insert(t).values(row).on_conflict_do_nothing())
        await session.execute(
            update(t)
            .where(t.c.appeal_id == e.appeal_id, or_(t.c.last_event_at.is_(None), t.c.last_event_at <= e.occurred_at))
            .values(status=shown.value, reasons=list(e.reasons), decided_at=e.decided_at, last_event_at=e.occurred_at)
        )

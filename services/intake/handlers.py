"""Keeps the request read model (GET /v1/reactivations/{id}) up to date from decisions and SLA events.
Idempotent and order-safe: an event older than what the row already reflects changes nothing."""

from __future__ import annotations

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.domain.read_model import sla_states_below, statuses_a_decision_may_replace
from services.intake.store import ProcessedEvent, RequestView
from shared.db import transaction
from shared.events import EmergencySlaChanged, Event, ReactivationDecided

R = RequestView.__table__


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
            for e in events:
                if e.event_id not in fresh:
                    continue
                newer = or_(R.c.last_event_at.is_(None), R.c.last_event_at <= e.occurred_at)
                if isinstance(e, ReactivationDecided):
                    await session.execute(
                        update(R)
                        .where(
                            R.c.request_id == e.request_id,
                            newer,
                            R.c.status.in_(statuses_a_decision_may_replace(e.outcome)),
                        )
                        .values(
                            status=e.outcome.value,
                            reasons=[r.value for r in e.reasons],
                            decided_at=e.decided_at,
                            last_event_at=e.occurred_at,
                        )
                    )
                elif isinstance(e, EmergencySlaChanged):
                    await session.execute(
                        update(R)
                        .where(
                            R.c.request_id == e.request_id,
                            or_(R.c.sla_state.is_(None), R.c.sla_state.in_(sla_states_below(e.sla_state))),
                        )
                        .values(sla_state=e.sla_state.value)
                    )

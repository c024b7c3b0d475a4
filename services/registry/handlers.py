"""One batch handler for every topic the registry mirrors. A batch is one transaction: claim the
event ids not seen before, apply the state machine in partition order, bulk-upsert participants,
append history and anomalies, update requests and notifications, and put the status changes in
the outbox. A redelivered event is skipped whole: no second history row, no second publish."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry import metrics
from services.registry.domain.status import Applied, Participant, apply
from services.registry.store import PE, RQ, A, H, N, P, outbox
from shared.db import transaction
from shared.enums import DecisionReason, ParticipantStatus
from shared.events import (
    EmergencySlaChanged,
    Event,
    NotificationUpdated,
    ParticipantStatusChanged,
    ReactivationDecided,
    ReactivationRequested,
)
from shared.nik import parse_nik
from shared.outbox import add_to_outbox, outbox_row
from shared.topics import STATUS_CHANGES

PARTICIPANT_FIELDS = [f.name for f in fields(Participant)]


def region_from_nik(nik: str) -> tuple[str, str, str]:
    parts = parse_nik(nik)
    return parts.province_name, parts.regency_name.title(), parts.district_code


class RegistryHandlers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], prefix: str, on_commit: Callable[[], None]) -> None:
        self.sessions, self.prefix, self.on_commit = sessions, prefix, on_commit

    async def on_events(self, events: list[Event]) -> None:
        started = time.perf_counter()
        async with transaction(self.sessions) as session:
            ids = [e.event_id for e in events]
            claimed = await session.execute(
                insert(PE).values([{"event_id": i} for i in ids]).on_conflict_do_nothing().returning(PE.c.event_id)
            )
            fresh = {row[0] for row in claimed}
            metrics.DUPLICATES.inc(len(set(ids)) - len(fresh))
            todo = [e for e in events if e.event_id in fresh]
            if todo:
                await self._apply(session, todo)
        metrics.BATCH.observe(len(events))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        self.on_commit()

    async def _apply(self, session: AsyncSession, events: list[Event]) -> None:
        niks = {e.nik for e in events}
        rows = (await session.execute(select(P).where(P.c.nik.in_(niks)))).mappings()
        people: dict[str, Participant | None] = {
            r["nik"]: Participant(**{**{k: r[k] for k in PARTICIPANT_FIELDS}, "status": ParticipantStatus(r["status"])})
            for r in rows
        }
        changed: set[str] = set()
        history, anomalies, out = [], [], []
        requests: dict[Any, dict[str, Any]] = {}
        now = dt.datetime.now(dt.UTC)
        for event in events:
            kind = getattr(event, "type", "")
            metrics.APPLIED.labels(kind).inc()
            if isinstance(event, ReactivationRequested):
                requests[event.request_id] = self._request_row(event, people.get(event.nik))
                continue
            if isinstance(event, EmergencySlaChanged):
                await session.execute(
                    update(RQ)
                    .where(RQ.c.request_id == event.request_id)
                    .values(sla_state=event.sla_state.value, sla_deadline=event.sla_deadline)
                )
                continue
            if isinstance(event, NotificationUpdated):
                await self._notification(session, event)
                continue
            if isinstance(event, ReactivationDecided):
                await self._decision(session, event, requests)
            if kind == "participant.status_changed" or kind == "participant.window_reminder_due":
                continue
            result = apply(people.get(event.nik), event, region_from_nik(event.nik))
            self._collect(event, result, people, changed, history, anomalies, out, now)
        if requests:
            stmt = insert(RQ).values(list(requests.values()))
            await session.execute(stmt.on_conflict_do_nothing())
        if changed:
            values = [asdict(people[n]) for n in changed if people[n] is not None]  # type: ignore[arg-type]
            stmt = insert(P).values(values)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["nik"], set_={k: stmt.excluded[k] for k in PARTICIPANT_FIELDS if k != "nik"}
                )
            )
        if history:
            await session.execute(insert(H).values(history).on_conflict_do_nothing())
        if anomalies:
            await session.execute(insert(A).values(anomalies))
        await add_to_outbox(session, outbox, out)

    def _collect(
        self,
        event: Event,
        result: Applied,
        people: dict,
        changed: set,
        history: list,
        anomalies: list,
        out: list,
        now: dt.datetime,
    ) -> None:
        if result.anomaly:
            metrics.ANOMALIES.labels(result.anomaly.kind).inc()
            anomalies.append(
                {
                    "event_id": event.event_id,
                    "nik": event.nik,
                    "kind": result.anomaly.kind,
                    "detail": result.anomaly.detail,
                    "recorded_at": now,
                }
            )
        if result.participant is not None and result.participant != people.get(event.nik):
            people[event.nik] = result.participant
            changed.add(event.nik)
        if result.history:
            h = result.history
            history.append(
                {
                    "nik": event.nik,
                    "event_id": h.event_id,
                    "event_type": h.event_type,
                    "occurred_at": h.occurred_at,
                    "source": h.source,
                    "previous_status": h.previous_status.value if h.previous_status else None,
                    "status": h.status.value,
                    "reasons": list(h.reasons),
                }
            )
        if result.status_changed and result.participant and result.history:
            p, h = result.participant, result.history
            out.append(
                outbox_row(
                    self.prefix + STATUS_CHANGES.name,
                    ParticipantStatusChanged(
                        event_id=_derived_id(h.event_id, p.nik),
                        occurred_at=h.occurred_at,
                        source="registry",
                        nik=p.nik,
                        previous_status=h.previous_status,
                        status=ParticipantStatus(h.status),
                        cause_event_id=h.event_id,
                        cause_type=h.event_type,
                        reasons=[r for r in h.reasons if r in _DECISION_REASONS],
                        window_closes_at=p.window_closes_at,
                        phone=p.phone,
                    ),
                )
            )

    def _request_row(self, e: ReactivationRequested, p: Participant | None) -> dict[str, Any]:
        province, regency, district = (p.province, p.regency, p.district) if p else region_from_nik(e.nik)
        letter = e.documents.hospital_letter
        return {
            "request_id": e.request_id,
            "nik": e.nik,
            "path": e.path.value,
            "channel": e.channel.value,
            "facility_code": letter.facility_code if letter else None,
            "province": province,
            "regency": regency,
            "district": district,
            "status": "RECEIVED",
            "reasons": [],
            "received_at": e.received_at,
            "sla_deadline": e.sla_deadline,
            "sla_state": "OK" if e.sla_deadline else None,
        }

    async def _decision(self, session: AsyncSession, e: ReactivationDecided, pending: dict) -> None:
        if e.request_id in pending:  # the request arrived in this same batch
            pending[e.request_id].update(
                status=e.outcome.value, reasons=[r.value for r in e.reasons], decided_at=e.decided_at
            )
            return
        await session.execute(
            update(RQ)
            .where(RQ.c.request_id == e.request_id)
            .values(status=e.outcome.value, reasons=[r.value for r in e.reasons], decided_at=e.decided_at)
        )

    async def _notification(self, session: AsyncSession, e: NotificationUpdated) -> None:
        stmt = insert(N).values(message_id=e.message_id, channel=e.channel.value, kind=e.kind, state=e.state.value)
        await session.execute(
            stmt.on_conflict_do_update(index_elements=["message_id"], set_={"state": stmt.excluded.state})
        )


_DECISION_REASONS = {r.value for r in DecisionReason}
_NAMESPACE = uuid.UUID("5a0f3b0e-8f4f-4d7e-9d61-6a1b9a3c2f70")


def _derived_id(cause: uuid.UUID, nik: str) -> uuid.UUID:
    """The status change caused by one event always has the same id (redelivery-safe)."""
    return uuid.uuid5(_NAMESPACE, f"{cause}:{nik}")

"""One batch handler for every topic the registry mirrors. A batch is one transaction: claim the
event ids not seen before, apply the state machine in partition order, bulk-upsert participants,
append history and anomalies, update requests and notifications, and put the status changes in
the outbox. A redelivered event is skipped whole: no second history row, no second publish."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry import metrics, worklist
from services.registry.domain import delivery
from services.registry.domain.status import STILL_OUT, Applied, HistoryEntry, Participant, apply, window_closed
from services.registry.domain.worklist import (
    Satisfied,
    WorkItem,
    already_satisfied,
    appeal_decided,
    appeal_item,
    breach_item,
    finally_decided,
    items_for_decision,
    satisfied_by,
)
from services.registry.privacy import ERASURES
from services.registry.store import RQ, SCHEMA, A, H, N, P, outbox
from shared.db import any_of, bulk_insert, transaction, upsert_clause
from shared.enums import DecisionReason, ParticipantStatus, SlaState, WorklistKind
from shared.events import (
    AppealUpdated,
    EmergencySlaChanged,
    Event,
    NotificationUpdated,
    ParticipantStatusChanged,
    ReactivationDecided,
    ReactivationRequested,
)
from shared.nik import parse_nik
from shared.outbox import outbox_row
from shared.privacy import erased_among, scrub
from shared.sla import SLA_ORDER, advance_sla, sla_of_decision, sla_of_event, sla_rank
from shared.topics import STATUS_CHANGES

PARTICIPANT_FIELDS = [f.name for f in fields(Participant)]
YIELD_EVERY = 250  # events applied between two chances for other consumers (decisions) to run


_REGIONS: dict[str, tuple[str, str, str]] = {}
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def region_from_nik(nik: str) -> tuple[str, str, str]:
    """Province, regency and district names (Kemendagri's list; the district code when the list does
    not know it) from the NIK's first six digits (cached per district: the NIK was validated at decoding)."""
    region = _REGIONS.get(nik[:6])
    if region is None:
        parts = parse_nik(nik)
        district = parts.district_name or parts.district_code
        region = _REGIONS[nik[:6]] = (parts.province_name, parts.regency_name, district)
    return region


class RegistryHandlers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        prefix: str,
        on_commit: Callable[[], None],
        clock: Clock | None = None,
    ) -> None:
        self.sessions, self.prefix, self.on_commit = sessions, prefix, on_commit
        self.clock = clock or utc_now

    async def on_events(self, events: list[Event]) -> None:
        started = time.perf_counter()
        async with transaction(self.sessions) as session:
            unique = _first_deliveries(events)
            claimed = await session.execute(_CLAIM, {"ids": [e.event_id for e in unique]})
            fresh = {row[0] for row in claimed}
            metrics.DUPLICATES.inc(len(events) - len(fresh))
            todo = [e for e in unique if e.event_id in fresh]
            if todo:
                await self._apply(session, todo)
        # Counted once committed: a batch rolled back and redelivered is applied, and counted, once.
        for kind, n in Counter(getattr(e, "type", "") for e in todo).items():
            metrics.APPLIED.labels(kind).inc(n)
        now = dt.datetime.now(dt.UTC)
        metrics.BATCH.observe(len(events))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        if events:
            metrics.LAG.set(max(0.0, (now - events[-1].occurred_at).total_seconds()))
        self.on_commit()

    async def _apply(self, session: AsyncSession, events: list[Event]) -> None:
        niks = sorted({e.nik for e in events})
        # Locked in NIK order: a concurrent batch of another topic (decisions vs. facts) waits and
        # then reads the committed row, so neither overwrites the other's change.
        rows = (
            await session.execute(select(P).where(any_of(P.c.nik, niks)).order_by(P.c.nik).with_for_update())
        ).mappings()
        people: dict[str, Participant | None] = {r["nik"]: participant_from_row(r) for r in rows}
        # Erased people: contact data on their events stays out (shared.privacy); read after the locks.
        events = scrub(events, await erased_among(session, ERASURES, niks))
        changed: set[str] = set()
        history: list[dict[str, Any]] = []
        anomalies: list[dict[str, Any]] = []
        out: list[dict[str, Any]] = []
        requests: dict[uuid.UUID, dict[str, Any]] = {}
        decisions: dict[uuid.UUID, dict[str, Any]] = {}
        sla: dict[uuid.UUID, dict[str, Any]] = {}
        notifications: dict[uuid.UUID, dict[str, Any]] = {}
        opened: dict[uuid.UUID, WorkItem] = {}
        released: dict[uuid.UUID, tuple[dt.datetime, str]] = {}
        closing: dict[tuple[str, WorklistKind], Satisfied] = {}  # items the batch's facts did the work of
        appeals_decided: dict[uuid.UUID, tuple[dt.datetime, str]] = {}  # request id -> (when, UPHELD/DISMISSED)
        now = self.clock()
        for i, event in enumerate(events, 1):
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a wave batch is thousands of events: let the decisions consumer in
            kind = getattr(event, "type", "")
            if isinstance(event, ReactivationRequested):
                requests[event.request_id] = self._request_row(event, people.get(event.nik))
                continue
            if isinstance(event, EmergencySlaChanged):
                self._fold_sla(sla, event, sla_of_event(event.sla_state, event.occurred_at, event.sla_deadline))
                if (breach := breach_item(event, self._region(event.nik, people.get(event.nik)))) is not None:
                    opened.setdefault(breach.item_id, breach)
                continue
            if isinstance(event, NotificationUpdated):
                known = notifications.get(event.message_id)
                notifications[event.message_id] = {
                    "message_id": event.message_id,
                    "channel": event.channel.value,
                    "kind": event.kind,
                    "state": event.state.value,
                    "updated_at": event.occurred_at,
                    **delivery.moments(event.state, event.occurred_at, known),  # for the dashboard's charts
                }
                continue
            if isinstance(event, AppealUpdated):
                self._appeal_work(event, people.get(event.nik), opened, appeals_decided)
                continue
            if isinstance(event, ReactivationDecided):
                previous = decisions.get(event.request_id)
                if previous is None or previous["decided_at"] <= event.decided_at:
                    decisions[event.request_id] = self._decision_row(event)
                # A final decision says what became of the clock too (met late, closed), whichever
                # timer event comes, or came, on the other topic.
                self._fold_sla(sla, event, sla_of_decision(event.outcome, event.decided_at, event.sla_deadline))
                self._work(event, people.get(event.nik), opened, released, closing)
            if kind == "participant.status_changed" or kind == "participant.window_reminder_due":
                continue
            if (fact := satisfied_by(event)) is not None:
                closing.setdefault((event.nik, fact.kind), fact)
            result = apply(people.get(event.nik), event, region_from_nik(event.nik))
            self._collect(event, result, people, changed, history, anomalies, out, now)
            person = people.get(event.nik)
            if person is not None and person.status in STILL_OUT:
                # Applied after the window closed (a late list, a late decision): expired at once, as
                # the sweep would have done, so nobody is ever seen out past their window's close.
                closed = window_closed(person, now)
                if closed.history is not None:
                    self._collect(event, closed, people, changed, history, anomalies, out, now)
        await self._write_requests(session, requests, decisions, sla)
        if opened or released:
            await worklist.record(session, opened, released)
        if closing:
            await worklist.close_satisfied(session, closing, now)
        if appeals_decided:
            await worklist.close_appeals(session, appeals_decided)
        if notifications:
            stmt = insert(N)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["message_id"],
                    set_={
                        "state": stmt.excluded.state,
                        "updated_at": func.greatest(N.c.updated_at, stmt.excluded.updated_at),
                        **{m: func.least(N.c[m], stmt.excluded[m]) for m in delivery.MOMENTS},  # first report
                    },
                ),
                list(notifications.values()),
            )
        if changed:
            values = [{k: getattr(people[n], k) for k in PARTICIPANT_FIELDS} for n in sorted(changed)]
            await bulk_insert(session, P, values, UPSERT_PARTICIPANT)
        if history:
            await bulk_insert(session, H, history, "on conflict (event_id, nik) do nothing")
        if anomalies:
            await bulk_insert(session, A, anomalies)
        if out:
            await bulk_insert(session, outbox, out, "on conflict (event_id) do nothing")

    async def _write_requests(
        self,
        session: AsyncSession,
        requests: dict[uuid.UUID, dict[str, Any]],
        decisions: dict[uuid.UUID, dict[str, Any]],
        sla: dict[uuid.UUID, dict[str, Any]],
    ) -> None:
        """Requests, decisions and SLA changes come on three topics, in any order relative to each
        other: each one upserts the request row and only sets the fields it knows, never moving a
        decision or an SLA state backwards."""
        if requests:
            stmt = insert(RQ)
            x = stmt.excluded
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["request_id"],
                    set_={
                        "path": x.path,
                        "channel": x.channel,
                        "facility_code": func.coalesce(x.facility_code, RQ.c.facility_code),
                        "received_at": x.received_at,
                        "sla_deadline": func.coalesce(RQ.c.sla_deadline, x.sla_deadline),
                        "sla_state": func.coalesce(RQ.c.sla_state, x.sla_state),
                    },
                ),
                list(requests.values()),
            )
        if decisions:
            stmt = insert(RQ)
            x = stmt.excluded
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["request_id"],
                    set_={"status": x.status, "reasons": x.reasons, "decided_at": x.decided_at},
                    where=RQ.c.decided_at.is_(None) | (RQ.c.decided_at <= x.decided_at),
                ),
                list(decisions.values()),
            )
        if sla:
            stmt = insert(RQ)
            x = stmt.excluded
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["request_id"],
                    set_={
                        "sla_state": x.sla_state,
                        "sla_deadline": x.sla_deadline,
                        "facility_code": func.coalesce(RQ.c.facility_code, x.facility_code),
                    },
                    where=_sla_rank(RQ.c.sla_state) <= _sla_rank(x.sla_state),
                ),
                list(sla.values()),
            )

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
            history.append(history_row(event.nik, result.history))
        if result.status_changed and result.participant and result.history:
            out.append(status_change_row(self.prefix, result.participant, result.history))

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
            "decided_at": None,
            "sla_deadline": e.sla_deadline,
            "sla_state": "OK" if e.sla_deadline else None,
        }

    def _decision_row(self, e: ReactivationDecided) -> dict[str, Any]:
        province, regency, district = region_from_nik(e.nik)
        return {
            "request_id": e.request_id,
            "nik": e.nik,
            "path": e.path.value,
            "channel": e.channel.value,
            "facility_code": None,
            "province": province,
            "regency": regency,
            "district": district,
            "status": e.outcome.value,
            "reasons": [r.value for r in e.reasons],
            "received_at": e.received_at,
            "decided_at": e.decided_at,
            "sla_deadline": e.sla_deadline,
            "sla_state": "OK" if e.sla_deadline else None,
        }

    def _work(
        self,
        e: ReactivationDecided,
        p: Participant | None,
        opened: dict[uuid.UUID, WorkItem],
        released: dict[uuid.UUID, tuple[dt.datetime, str]],
        closing: dict[tuple[str, WorklistKind], Satisfied],
    ) -> None:
        """Follow-ups and held emergencies go on the worklist with the request (first one wins); a
        follow-up whose fact the registry already has is closed at once."""
        for item in items_for_decision(e, self._region(e.nik, p)):
            opened.setdefault(item.item_id, item)
            if p is not None and (done := already_satisfied(item.kind, p.biometric_recorded, p.id_semesta)):
                closing.setdefault((e.nik, item.kind), done)
        if finally_decided(e):  # what held it, and what a PENDING waited for, are settled
            released[e.request_id] = (e.decided_at, e.outcome.value)

    def _appeal_work(
        self,
        e: AppealUpdated,
        p: Participant | None,
        opened: dict[uuid.UUID, WorkItem],
        decided: dict[uuid.UUID, tuple[dt.datetime, str]],
    ) -> None:
        """An open appeal goes on the worklist as APPEAL_REVIEW; upheld or dismissed, its item is done."""
        if (item := appeal_item(e, self._region(e.nik, p))) is not None:
            opened.setdefault(item.item_id, item)
        if appeal_decided(e) and e.request_id is not None:
            decided[e.request_id] = (e.decided_at or e.occurred_at, e.status.value)

    @staticmethod
    def _region(nik: str, p: Participant | None) -> tuple[str, str, str]:
        return (p.province, p.regency, p.district) if p else region_from_nik(nik)

    def _fold_sla(
        self, sla: dict[uuid.UUID, dict[str, Any]], e: EmergencySlaChanged | ReactivationDecided, state: SlaState | None
    ) -> None:
        if state is None or e.sla_deadline is None:
            return
        previous = sla.get(e.request_id)
        state = advance_sla(previous["sla_state"] if previous else None, state)
        sla[e.request_id] = self._sla_row(e, state or SlaState.OK)

    def _sla_row(self, e: EmergencySlaChanged | ReactivationDecided, state: SlaState) -> dict[str, Any]:
        province, regency, district = region_from_nik(e.nik)
        return {
            "request_id": e.request_id,
            "nik": e.nik,
            "path": "EMERGENCY",  # only emergency requests have an SLA clock
            "channel": "HOSPITAL",
            "facility_code": getattr(e, "facility_code", None),
            "province": province,
            "regency": regency,
            "district": district,
            "status": "RECEIVED",
            "reasons": [],
            "received_at": e.received_at,
            "decided_at": None,
            "sla_deadline": e.sla_deadline,
            "sla_state": state.value,
        }


def participant_from_row(r: Any) -> Participant:
    return Participant(**{**{k: r[k] for k in PARTICIPANT_FIELDS}, "status": ParticipantStatus(r["status"])})


def history_row(nik: str, h: HistoryEntry) -> dict[str, Any]:
    return {
        "nik": nik,
        "event_id": h.event_id,
        "event_type": h.event_type,
        "occurred_at": h.occurred_at,
        "source": h.source,
        "previous_status": h.previous_status.value if h.previous_status else None,
        "status": h.status.value,
        "reasons": list(h.reasons),
    }


def status_change_row(prefix: str, p: Participant, h: HistoryEntry) -> dict[str, Any]:
    """The outbox row announcing a status change (same transaction as the change)."""
    return outbox_row(
        prefix + STATUS_CHANGES.name,
        # Every field is already validated (from decoded events): construct without re-parsing.
        ParticipantStatusChanged.model_construct(
            event_id=_derived_id(h.event_id, p.nik),
            occurred_at=h.occurred_at,
            source="registry",
            nik=p.nik,
            previous_status=h.previous_status,
            status=ParticipantStatus(h.status),
            cause_event_id=h.event_id,
            cause_type=h.event_type,
            reasons=[DecisionReason(r) for r in h.reasons if r in _DECISION_REASONS],
            window_closes_at=p.window_closes_at,
            phone=p.phone,
        ),
        cause=h.event_id,
    )


def _first_deliveries(events: list[Event]) -> list[Event]:
    """The batch without repeated event ids, each event at the place of its first delivery."""
    seen: set[uuid.UUID] = set()
    unique = []
    for e in events:
        if e.event_id not in seen:
            seen.add(e.event_id)
            unique.append(e)
    return unique


def _sla_rank(column: Any) -> Any:
    return case({s.value: sla_rank(s) for s in SLA_ORDER}, value=column, else_=0)


_CLAIM = text(
    f"insert into {SCHEMA}.processed_events (event_id) select unnest(cast(:ids as uuid[])) "
    "on conflict do nothing returning event_id"
)
UPSERT_PARTICIPANT = upsert_clause("nik", PARTICIPANT_FIELDS)
_DECISION_REASONS = {r.value for r in DecisionReason}
_NAMESPACE = uuid.UUID("5a0f3b0e-8f4f-4d7e-9d61-6a1b9a3c2f70")


def _derived_id(cause: uuid.UUID, nik: str) -> uuid.UUID:
    """The status change caused by one event always has the same id (redelivery-safe)."""
    return uuid.uuid5(_NAMESPACE, f"{cause}:{nik}")

"""The registry handler's cases, written once and run against both units of work: in memory
(tests/unit/registry/test_handlers_uow.py, milliseconds) and on PostgreSQL
(tests/integration/test_registry_uow_pg.py), so the fake cannot drift from the real store.

A backend gives the handler and the window sweep built on its unit of work, a clock the cases move, a
way to record an erasure, and a `snapshot()` of what is stored, in the same shape for both."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.registry.domain.status import window_closed_event_id
from services.registry.domain.worklist import item_id
from services.registry.handlers import RegistryHandlers
from services.registry.sweep import WindowSweep
from services.registry.uow import status_change_json
from services.registry.uow_memory import MemoryStore, MemoryUnitOfWork
from shared.enums import WorklistKind
from shared.events import (
    BiometricRecorded,
    EmergencySlaChanged,
    Event,
    NotificationUpdated,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
    WindowReminderDue,
)

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
DAY, H = dt.timedelta(days=1), dt.timedelta(hours=1)
NIK, NIK2 = "3674015708900001", "3674015708900002"
PREFIX = "t."


@dataclass
class Snapshot:
    people: dict[str, dict[str, Any]]
    history: list[tuple[str, uuid.UUID, str, str | None, str]]  # nik, event id, type, before, after (in order)
    anomalies: list[tuple[uuid.UUID, str, str]]  # event id, nik, kind
    inbox: set[uuid.UUID]
    published: list[tuple[uuid.UUID, str, str | None, str]]  # cause, nik, before, after (status changes)
    published_values: list[bytes]  # the status changes' JSON, as the relay puts it on the topic
    requests: dict[uuid.UUID, dict[str, Any]]
    worklist: dict[uuid.UUID, tuple[str, str, str | None]]  # kind, state, closed_by
    notifications: dict[uuid.UUID, dict[str, Any]]


class Backend(Protocol):
    handlers: RegistryHandlers
    sweep: WindowSweep
    now: dt.datetime

    async def snapshot(self) -> Snapshot: ...
    async def erase(self, nik: str, at: dt.datetime) -> None: ...


@dataclass
class MemoryBackend:
    store: MemoryStore = field(default_factory=MemoryStore)
    now: dt.datetime = T0 + DAY

    def __post_init__(self) -> None:
        def uow() -> MemoryUnitOfWork:
            return MemoryUnitOfWork(self.store, PREFIX)

        self.handlers = RegistryHandlers(None, PREFIX, lambda: None, clock=lambda: self.now, uow=uow)
        self.sweep = WindowSweep(None, PREFIX, clock=lambda: self.now, uow=uow)

    async def erase(self, nik: str, at: dt.datetime) -> None:
        self.store.erasures[nik] = at

    async def snapshot(self) -> Snapshot:
        s = self.store
        return Snapshot(
            people={n: {**p.__dict__, "status": p.status.value} for n, p in s.people.items()},
            history=[
                (r["nik"], r["event_id"], r["event_type"], _value(r["previous_status"]), _value(r["status"]))
                for r in s.history.values()
            ],
            anomalies=sorted((a["event_id"], a["nik"], a["kind"]) for a in s.anomalies.values()),
            inbox=set(s.inbox),
            published=sorted(_change(e) for _, e in s.outbox.values()),
            published_values=[status_change_json(e) for _, e in s.outbox.values()],
            requests={k: {c: r[c] for c in REQUEST_COLUMNS} for k, r in s.requests.items()},
            worklist={k: (r["kind"], r["state"], r["closed_by"]) for k, r in s.worklist.items()},
            notifications={k: {c: r[c] for c in NOTIFICATION_COLUMNS} for k, r in s.notifications.items()},
        )


REQUEST_COLUMNS = ("nik", "path", "status", "reasons", "received_at", "decided_at", "sla_state", "facility_code")
NOTIFICATION_COLUMNS = ("state", "updated_at", "sent_at", "delivered_at", "failed_at")


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def _change(e: Any) -> tuple[uuid.UUID, str, str | None, str]:
    return (e.cause_event_id, e.nik, _value(e.previous_status), _value(e.status))


# --- events ---------------------------------------------------------------------------------------


def deactivated(
    on: dt.date = dt.date(2026, 11, 1), at: dt.datetime = T0, nik: str = NIK, **kw: Any
) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=at,
        source=kw.pop("source", "SIKS-NG"),
        nik=nik,
        reason=kw.pop("reason", "DESIL_ABOVE_5"),
        deactivated_on=on,
        **kw,
    )


def decided(rid: uuid.UUID, outcome: str, at: dt.datetime, path: str = "REGULAR", **kw: Any) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik=kw.pop("nik", NIK),
        decision_id=uuid.uuid4(),
        request_id=rid,
        path=path,  # type: ignore[arg-type]
        channel="HOSPITAL" if path == "EMERGENCY" else "DINSOS",  # type: ignore[arg-type]
        outcome=outcome,  # type: ignore[arg-type]
        policy_version="t",
        received_at=kw.pop("received_at", T0 + H),
        decided_at=at,
        sla_deadline=T0 + H + 24 * H if path == "EMERGENCY" else None,
        **kw,
    )


def requested(rid: uuid.UUID, at: dt.datetime = T0 + H) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=at, source="intake", nik=NIK, request_id=rid, path="REGULAR", channel="DINSOS", received_at=at
    )  # type: ignore[arg-type]


def sla(rid: uuid.UUID, state: str, at: dt.datetime) -> EmergencySlaChanged:
    return EmergencySlaChanged(
        occurred_at=at,
        source="eligibility",
        nik=NIK,
        request_id=rid,
        sla_state=state,
        sla_deadline=T0 + 25 * H,
        received_at=T0 + H,
    )  # type: ignore[arg-type]


def notified(mid: uuid.UUID, state: str, at: dt.datetime) -> NotificationUpdated:
    return NotificationUpdated(
        occurred_at=at, source="notifier", nik=NIK, message_id=mid, kind="DECISION", channel="WHATSAPP", state=state
    )  # type: ignore[arg-type]


# --- the cases ------------------------------------------------------------------------------------


class HandlerCases:
    """Subclasses provide a `backend` fixture (a Backend)."""

    async def test_a_deactivation_is_applied_once_without_an_inbox_row(self, backend: Backend) -> None:
        d = deactivated()
        await backend.handlers.on_events([d, d])
        await backend.handlers.on_events([d])  # redelivered
        s = await backend.snapshot()
        assert s.people[NIK]["status"] == "INACTIVE" and s.people[NIK]["deactivated_on"] == dt.date(2026, 11, 1)
        assert s.history == [(NIK, d.event_id, "participant.deactivated", None, "INACTIVE")]
        assert s.published == [(d.event_id, NIK, None, "INACTIVE")]
        assert s.inbox == set()  # the history row is the proof of application

    async def test_the_same_deactivation_again_changes_nothing_and_is_remembered_in_the_inbox(
        self, backend: Backend
    ) -> None:
        first, again = deactivated(), deactivated(at=T0 + H, source="BPJS")
        await backend.handlers.on_events([first])
        await backend.handlers.on_events([again])
        await backend.handlers.on_events([again])
        s = await backend.snapshot()
        assert [h[1] for h in s.history] == [first.event_id] and len(s.published) == 1
        assert s.inbox == {again.event_id}

    async def test_an_older_deactivation_is_one_anomaly_however_often_it_comes(self, backend: Backend) -> None:
        newer, older = deactivated(dt.date(2026, 11, 1)), deactivated(dt.date(2026, 8, 1), at=T0 + H)
        await backend.handlers.on_events([newer, older])
        await backend.handlers.on_events([older])
        s = await backend.snapshot()
        assert s.anomalies == [(older.event_id, NIK, "STALE_EVENT")]
        assert s.people[NIK]["deactivated_on"] == dt.date(2026, 11, 1) and s.inbox == set()

    async def test_a_request_and_its_decisions_in_any_order_end_approved(self, backend: Backend) -> None:
        rid = uuid.uuid4()
        pending, approved = decided(rid, "PENDING", T0 + 2 * H), decided(rid, "APPROVED", T0 + 3 * H)
        await backend.handlers.on_events([deactivated()])
        await backend.handlers.on_events([approved])
        await backend.handlers.on_events([requested(rid), pending, requested(rid)])  # the older decision arrives late
        s = await backend.snapshot()
        assert s.requests[rid]["status"] == "APPROVED" and s.requests[rid]["decided_at"] == T0 + 3 * H
        assert s.people[NIK]["status"] == "ACTIVE"
        assert sorted(p[3] for p in s.published) == ["ACTIVE", "INACTIVE"]  # the late PENDING: an anomaly
        assert s.anomalies == [(pending.event_id, NIK, "STALE_EVENT")]

    async def test_a_held_emergency_redelivered_beside_its_approval_is_still_done(self, backend: Backend) -> None:
        rid = uuid.uuid4()
        held = decided(rid, "PENDING", T0 + H, path="EMERGENCY", reasons=["NIK_CONFLICT"])
        await backend.handlers.on_events([held])  # nobody on record yet: only the request and its item
        assert (await backend.snapshot()).worklist[item_id(rid, WorklistKind.EMERGENCY_HELD)][1] == "OPEN"
        # The approval and the held decision again, in one batch (Kafka redelivers; a loaded consumer batches).
        await backend.handlers.on_events([decided(rid, "APPROVED", T0 + 3 * H, path="EMERGENCY"), held])
        kind, state, closed_by = (await backend.snapshot()).worklist[item_id(rid, WorklistKind.EMERGENCY_HELD)]
        assert (kind, state, closed_by) == ("EMERGENCY_HELD", "DONE", "system:decision")

    async def test_a_decision_for_nobody_to_mirror_is_remembered_and_changes_nothing(self, backend: Backend) -> None:
        d = decided(uuid.uuid4(), "REJECTED", T0, reasons=["NOT_DEACTIVATED"])
        await backend.handlers.on_events([d])
        await backend.handlers.on_events([d])
        s = await backend.snapshot()
        assert s.people == {} and s.history == [] and s.inbox == {d.event_id}

    async def test_the_sla_only_moves_forward_and_a_breach_is_worked_until_the_decision(self, backend: Backend) -> None:
        rid = uuid.uuid4()
        await backend.handlers.on_events([deactivated()])
        await backend.handlers.on_events([sla(rid, "BREACHED", T0 + 26 * H), sla(rid, "WARNING", T0 + 13 * H)])
        breach = item_id(rid, WorklistKind.SLA_BREACHED)
        s = await backend.snapshot()
        assert s.requests[rid]["sla_state"] == "BREACHED" and s.worklist[breach] == ("SLA_BREACHED", "OPEN", None)
        await backend.handlers.on_events([decided(rid, "APPROVED", T0 + 27 * H, path="EMERGENCY")])
        s = await backend.snapshot()
        assert s.requests[rid]["sla_state"] == "BREACHED"  # met late
        assert s.worklist[breach] == ("SLA_BREACHED", "DONE", "system:decision")

    async def test_a_fact_closes_the_item_its_pending_decision_waited_for(self, backend: Backend) -> None:
        rid = uuid.uuid4()
        await backend.handlers.on_events([deactivated()])
        await backend.handlers.on_events([decided(rid, "PENDING", T0 + 2 * H, reasons=["BIOMETRIC_MISSING"])])
        item = item_id(rid, WorklistKind.BIOMETRIC_RECORDING)
        assert (await backend.snapshot()).worklist[item] == ("BIOMETRIC_RECORDING", "OPEN", None)
        fact = BiometricRecorded(occurred_at=T0 + 3 * H, source="DUKCAPIL", nik=NIK, recorded_on=dt.date(2026, 11, 24))
        await backend.handlers.on_events([fact, fact])
        s = await backend.snapshot()
        assert s.worklist[item] == ("BIOMETRIC_RECORDING", "DONE", "system:participant.biometric_recorded")
        assert s.people[NIK]["biometric_recorded"] is True and s.history[-1][1] == fact.event_id

    async def test_a_burst_of_pending_decisions_opens_every_item_in_one_batch(self, backend: Backend) -> None:
        # 2,000 decisions opening two items each: 4,000 rows of 10 columns, past asyncpg's 32,767-argument
        # limit for one VALUES list (the decisions consumer once retried such a batch forever).
        niks = [f"367401570890{i + 1:04d}" for i in range(2000)]
        await backend.handlers.on_events([deactivated(nik=n) for n in niks])
        rids = [uuid.uuid4() for _ in niks]
        burst = [
            decided(r, "PENDING", T0 + 2 * H, nik=n, reasons=["BIOMETRIC_MISSING"], follow_ups=("SIKS_NG_ENTRY",))
            for r, n in zip(rids, niks, strict=True)
        ]
        await backend.handlers.on_events(burst)
        s = await backend.snapshot()
        assert all(s.requests[r]["status"] == "PENDING" for r in rids)
        opened = {i for i, (_, state, _) in s.worklist.items() if state == "OPEN"}
        assert {
            item_id(r, k) for r in rids for k in (WorklistKind.BIOMETRIC_RECORDING, WorklistKind.SIKS_NG_ENTRY)
        } <= opened

    async def test_notification_moments_keep_the_first_report_of_each(self, backend: Backend) -> None:
        mid = uuid.uuid4()
        delivered, sent = notified(mid, "DELIVERED", T0 + 2 * H), notified(mid, "SENT", T0 + H)
        await backend.handlers.on_events([delivered])
        await backend.handlers.on_events([sent, delivered])  # a late report, and a redelivery
        row = (await backend.snapshot()).notifications[mid]
        assert (row["sent_at"], row["delivered_at"], row["updated_at"]) == (T0 + H, T0 + 2 * H, T0 + 2 * H)

    async def test_a_request_redelivered_after_its_decision_and_sla_changes_nothing_without_an_inbox_row(
        self, backend: Backend
    ) -> None:
        rid = uuid.uuid4()
        emergency = {"path": "EMERGENCY", "channel": "HOSPITAL", "sla_deadline": T0 + 25 * H}
        asked = ReactivationRequested.model_validate({**requested(rid).model_dump(), **emergency})
        await backend.handlers.on_events([deactivated(), asked])
        await backend.handlers.on_events([sla(rid, "BREACHED", T0 + 26 * H)])
        await backend.handlers.on_events([decided(rid, "APPROVED", T0 + 27 * H, path="EMERGENCY")])
        before = await backend.snapshot()
        await backend.handlers.on_events([asked, asked])  # redelivered
        s = await backend.snapshot()
        assert s.requests == before.requests and s.requests[rid]["status"] == "APPROVED"
        assert s.requests[rid]["sla_state"] == "BREACHED" and asked.event_id not in s.inbox

    async def test_an_emergencys_decision_and_sla_in_one_batch_each_move_only_forward(self, backend: Backend) -> None:
        # The decision and the SLA state it settles are one write of the request row (PgUnitOfWork):
        # each part still follows its own rule, as if applied one after the other.
        rid = uuid.uuid4()
        emergency = {"path": "EMERGENCY", "channel": "HOSPITAL", "sla_deadline": T0 + 25 * H}
        asked = ReactivationRequested.model_validate({**requested(rid).model_dump(), **emergency})
        await backend.handlers.on_events([deactivated(), asked])
        approved = decided(rid, "APPROVED", T0 + 27 * H, path="EMERGENCY")
        await backend.handlers.on_events([sla(rid, "WARNING", T0 + 13 * H), approved])
        s = await backend.snapshot()
        assert (s.requests[rid]["status"], s.requests[rid]["sla_state"]) == ("APPROVED", "BREACHED")  # met late
        late = decided(rid, "PENDING", T0 + 2 * H, path="EMERGENCY", reasons=["NIK_CONFLICT"])
        await backend.handlers.on_events([late, sla(rid, "OK", T0 + 2 * H)])  # an older decision, an older state
        after = await backend.snapshot()
        assert after.requests == s.requests and after.requests[rid]["decided_at"] == T0 + 27 * H

    async def test_window_reminders_alone_change_nothing(self, backend: Backend) -> None:
        await backend.handlers.on_events([deactivated()])
        before = await backend.snapshot()
        closes = before.people[NIK]["window_closes_at"]
        reminder = WindowReminderDue(
            occurred_at=T0 + H, source="eligibility", nik=NIK, window_closes_at=closes, days_left=7
        )
        await backend.handlers.on_events([reminder, reminder])
        assert await backend.snapshot() == before

    async def test_message_states_in_any_order_and_redelivered_end_the_same_without_an_inbox_row(
        self, backend: Backend
    ) -> None:
        mid = uuid.uuid4()
        sent, delivered, read = (notified(mid, s, T0 + k * H) for k, s in ((1, "SENT"), (2, "DELIVERED"), (3, "READ")))
        await backend.handlers.on_events([read, sent])
        await backend.handlers.on_events([delivered])
        await backend.handlers.on_events([sent, delivered, read, sent])  # redelivered, in another order
        s = await backend.snapshot()
        row = s.notifications[mid]
        assert (row["state"], row["updated_at"]) == ("READ", T0 + 3 * H)
        assert (row["sent_at"], row["delivered_at"], row["failed_at"]) == (T0 + H, T0 + 2 * H, None)
        assert s.inbox == set()

    async def test_a_deactivation_applied_after_its_window_closed_expires_at_once(self, backend: Backend) -> None:
        backend.now = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
        d = deactivated()
        await backend.handlers.on_events([d])
        s = await backend.snapshot()
        assert s.people[NIK]["status"] == "EXPIRED"
        assert [h[2:] for h in s.history] == [
            ("participant.deactivated", None, "INACTIVE"),
            ("registry.window_closed", "INACTIVE", "EXPIRED"),
        ]

    async def test_the_sweep_expires_whoever_is_still_out_once(self, backend: Backend) -> None:
        await backend.handlers.on_events([deactivated(), deactivated(nik=NIK2, on=dt.date(2026, 11, 20))])
        closes = (await backend.snapshot()).people[NIK]["window_closes_at"]
        assert await backend.sweep.run_once(closes + H) == 1
        assert await backend.sweep.run_once(closes + 2 * H) == 0
        s = await backend.snapshot()
        assert (s.people[NIK]["status"], s.people[NIK2]["status"]) == ("EXPIRED", "INACTIVE")
        assert (window_closed_event_id(NIK, closes), NIK, "INACTIVE", "EXPIRED") in s.published

    async def test_an_erased_persons_number_never_comes_back(self, backend: Backend) -> None:
        await backend.erase(NIK, T0)
        await backend.handlers.on_events([deactivated(at=T0 + H, phone="081234567890")])
        assert (await backend.snapshot()).people[NIK]["phone"] is None

    async def test_the_record_keeps_the_phone_and_its_status_changes_carry_none(self, backend: Backend) -> None:
        rid = uuid.uuid4()
        await backend.handlers.on_events([deactivated(phone="081234567890")])
        await backend.handlers.on_events([decided(rid, "APPROVED", T0 + 2 * H)])
        s = await backend.snapshot()
        assert (s.people[NIK]["phone"], s.people[NIK]["status"]) == ("+6281234567890", "ACTIVE")
        assert len(s.published_values) == 2
        assert not [v for v in s.published_values if b"1234567890" in v or json.loads(v)["phone"] is not None]

    async def test_a_batch_that_fails_is_applied_whole_when_it_comes_again(self, backend: Backend) -> None:
        rid, mid, rid2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        batch: list[Event] = [deactivated(), requested(rid), notified(mid, "SENT", T0 + H), sla(rid2, "OK", T0 + H)]
        clock = backend.handlers.clock

        def broken() -> dt.datetime:
            raise ConnectionResetError("the database went away")

        backend.handlers.clock = broken
        try:
            await backend.handlers.on_events(batch)
        except ConnectionResetError:
            pass
        assert (await backend.snapshot()).inbox == set()  # rolled back: the claims too
        backend.handlers.clock = clock
        await backend.handlers.on_events(batch)
        s = await backend.snapshot()
        assert s.people[NIK]["status"] == "INACTIVE" and rid in s.requests and mid in s.notifications
        assert s.requests[rid2]["sla_state"] == "OK"
        assert s.inbox == {batch[3].event_id}  # the SLA state's claim (a request or a message's state needs none)

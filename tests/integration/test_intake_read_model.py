"""Intake's read model applies a whole batch in a few set-based statements: the rows must end exactly
as if every event had been applied one by one, in order, by the read model's rules."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, replace

from sqlalchemy import delete, insert, select

from services.intake.app import create_app
from services.intake.domain.read_model import SLA_RANK, sla_changes, statuses_a_decision_may_replace
from services.intake.handlers import ReadModel
from services.intake.store import RequestView
from shared.db import make_engine, make_sessions
from shared.enums import Channel, Outcome, ReactivationPath
from shared.events import EmergencySlaChanged, ReactivationDecided
from shared.settings import IntakeSettings, Settings
from shared.sla import fold_sla
from testkit.apps import running

R = RequestView.__table__
T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
NIK = "3674015708900001"
REASONS = {Outcome.PENDING: ["DESIL_UNKNOWN", "BIOMETRIC_MISSING"], Outcome.REJECTED: ["DESIL_ABOVE_5"]}


@dataclass(frozen=True)
class View:
    status: str = "RECEIVED"
    reasons: tuple[str, ...] = ()
    decided_at: dt.datetime | None = None
    last_event_at: dt.datetime | None = None
    sla_state: str | None = "OK"


def one_by_one(view: View, event: ReactivationDecided | EmergencySlaChanged) -> View:
    """The rules, one event at a time (what the handler did before it went set-based)."""
    # The SLA only moves forward, folding timer events and the final decisions of emergencies.
    view = replace(view, sla_state=fold_sla([s for _, s in sla_changes([event])], view.sla_state))
    if isinstance(event, ReactivationDecided):
        newer = view.last_event_at is None or view.last_event_at <= event.occurred_at
        if newer and view.status in statuses_a_decision_may_replace(event.outcome):
            return replace(
                view,
                status=event.outcome.value,
                reasons=tuple(r.value for r in event.reasons),
                decided_at=event.decided_at,
                last_event_at=event.occurred_at,
            )
    return view


def random_batch(rnd: random.Random, requests: list[uuid.UUID]) -> list[ReactivationDecided | EmergencySlaChanged]:
    batch: list[ReactivationDecided | EmergencySlaChanged] = []
    for _ in range(rnd.randint(1, 12)):
        rid = rnd.choice(requests)
        at = T0 + dt.timedelta(minutes=rnd.randint(0, 5))  # ties and events out of order
        if rnd.random() < 0.7:
            outcome = rnd.choice(list(Outcome))
            batch.append(
                ReactivationDecided(
                    occurred_at=at,
                    source="eligibility",
                    nik=NIK,
                    decision_id=uuid.uuid4(),
                    request_id=rid,
                    path=ReactivationPath.EMERGENCY,
                    channel=Channel.HOSPITAL,
                    outcome=outcome,
                    reasons=REASONS.get(outcome, []),
                    policy_version="test",
                    received_at=T0,
                    decided_at=at,
                    # Most are emergencies, whose final decisions say what became of the clock.
                    sla_deadline=rnd.choice([None, T0 + dt.timedelta(minutes=3), T0 + dt.timedelta(hours=24)]),
                )
            )
        else:
            batch.append(
                EmergencySlaChanged(
                    occurred_at=at,
                    source="eligibility",
                    nik=NIK,
                    request_id=rid,
                    sla_state=rnd.choice(list(SLA_RANK)),
                    sla_deadline=T0 + dt.timedelta(hours=24),
                    received_at=T0,
                )
            )
    return batch


async def test_a_batch_ends_as_if_applied_one_by_one(settings: Settings) -> None:
    rnd = random.Random(20261127)
    async with running(create_app(IntakeSettings(**settings.model_dump()))):
        engine = make_engine(settings)
        model = ReadModel(make_sessions(engine))
        for _ in range(40):
            requests = [uuid.uuid4() for _ in range(3)]
            start = {rid: View() for rid in requests}
            # Some requests were decided by an earlier batch already.
            for rid in requests[1:]:
                if rnd.random() < 0.5:
                    start[rid] = View("APPROVED", (), T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=2), "MET")
            async with engine.begin() as conn:
                await conn.execute(delete(R))
                await conn.execute(
                    insert(R),
                    [
                        {
                            "request_id": rid,
                            "nik": NIK,
                            "path": "EMERGENCY",
                            "received_at": T0,
                            "sla_deadline": T0 + dt.timedelta(hours=24),
                            "status": v.status,
                            "reasons": list(v.reasons),
                            "decided_at": v.decided_at,
                            "last_event_at": v.last_event_at,
                            "sla_state": v.sla_state,
                        }
                        for rid, v in start.items()
                    ],
                )
            batch = random_batch(rnd, requests)
            expected = dict(start)
            for event in batch:
                expected[event.request_id] = one_by_one(expected[event.request_id], event)
            await model.on_events(batch)
            await model.on_events(batch)  # redelivered: changes nothing
            async with engine.connect() as conn:
                rows = (await conn.execute(select(R))).mappings().all()
            got = {
                r["request_id"]: View(
                    r["status"], tuple(r["reasons"]), r["decided_at"], r["last_event_at"], r["sla_state"]
                )
                for r in rows
            }
            assert got == expected, batch
        await engine.dispose()

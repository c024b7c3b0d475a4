"""The registry's emergency SLA board on real Kafka + PostgreSQL: a late approval keeps its breach (met
late), a rejected or expired emergency is CLOSED and no late timer event reopens it, whatever order
the three topics deliver in."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import select

from services.registry.app import create_app
from services.registry.store import PE, RQ
from shared.db import make_engine
from shared.events import EmergencySlaChanged, Event, ReactivationDecided, ReactivationRequested
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS, EMERGENCY_REQUESTS, TIMER_EVENTS, TopicSpec
from testkit.apps import running
from testkit.kafka import produce
from testkit.polling import eventually

NIK = "3674015708900001"
H = dt.timedelta(hours=1)
# Decided within the last day, so that the dashboard's board still shows the request.
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - 31 * H


def board(**counts: int) -> dict[str, int]:
    return {"open": 0, "warning": 0, "breached": 0, "met": 0, "closed": 0, "met_late": 0, **counts}


def request(rid: uuid.UUID) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=T0,
        source="intake",
        nik=NIK,
        request_id=rid,
        path="EMERGENCY",
        channel="HOSPITAL",
        documents={"hospital_letter": {"facility_code": "3674R001", "letter_no": "IGD/1"}},
        received_at=T0,
        sla_deadline=T0 + 24 * H,
    )


def timer(rid: uuid.UUID, state: str, hours: float) -> EmergencySlaChanged:
    return EmergencySlaChanged(
        occurred_at=T0 + hours * H,
        source="eligibility",
        nik=NIK,
        request_id=rid,
        sla_state=state,
        sla_deadline=T0 + 24 * H,
        received_at=T0,
        facility_code="3674R001",
    )


def decided(rid: uuid.UUID, outcome: str, hours: float, reasons: list[str] = []) -> ReactivationDecided:  # noqa: B006
    return ReactivationDecided(
        occurred_at=T0 + hours * H,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid5(rid, outcome),
        request_id=rid,
        path="EMERGENCY",
        channel="HOSPITAL",
        outcome=outcome,
        reasons=reasons,
        policy_version="t",
        received_at=T0,
        decided_at=T0 + hours * H,
        sla_deadline=T0 + 24 * H,
    )


def _topic(e: Event) -> TopicSpec:
    return TIMER_EVENTS if isinstance(e, EmergencySlaChanged) else DECISIONS


async def _row_state(settings: Settings, rid: uuid.UUID) -> tuple[str, str] | None:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        row = (await conn.execute(select(RQ.c.status, RQ.c.sla_state).where(RQ.c.request_id == rid))).first()
    await engine.dispose()
    return (row[0], row[1]) if row else None


LATE_APPROVAL = "late approval"
REJECTED = "rejected, then a late breach"
EXPIRED = "expired"


def story(kind: str, rid: uuid.UUID) -> tuple[list[Event], tuple[str, str], dict[str, int]]:
    """Events (in eligibility's order), the row they must end at, the board."""
    if kind == LATE_APPROVAL:
        events: list[Event] = [
            timer(rid, "OK", 0),
            timer(rid, "WARNING", 12),
            timer(rid, "BREACHED", 24),
            decided(rid, "APPROVED", 30),
            timer(rid, "MET", 30),  # what eligibility says when it approves, late or not
        ]
        return events, ("APPROVED", "BREACHED"), board(breached=1, met_late=1)
    if kind == REJECTED:
        events = [
            timer(rid, "OK", 0),
            timer(rid, "WARNING", 12),
            decided(rid, "REJECTED", 13, ["DECEASED"]),
            timer(rid, "BREACHED", 24),  # a timer event that raced the rejection
        ]
        return events, ("REJECTED", "CLOSED"), board(closed=1)
    events = [timer(rid, "OK", 0), timer(rid, "BREACHED", 24), decided(rid, "EXPIRED", 25, ["WINDOW_EXPIRED"])]
    return events, ("EXPIRED", "CLOSED"), board(closed=1)


@pytest.mark.parametrize("kind", [LATE_APPROVAL, REJECTED, EXPIRED])
@pytest.mark.parametrize("order", ["in order", "reversed"])
async def test_the_board_only_moves_forward(settings: Settings, kind: str, order: str) -> None:
    rid = uuid.uuid4()
    events, expected_row, expected_board = story(kind, rid)
    if order == "reversed":
        events = list(reversed(events))
    app = create_app(RegistrySettings(**settings.model_dump()))
    async with running(app):
        reader = await app.state.api_keys.issue("ops", ["dashboard:read"])
        asked = request(rid)
        await produce(settings, EMERGENCY_REQUESTS, asked)
        await eventually(lambda: _row_state(settings, rid))  # a request takes no inbox row: its own row says
        for e in events:  # one by one: the two topics interleave in this order
            await produce(settings, _topic(e), e)
        await eventually(lambda: _claimed(settings, [e.event_id for e in events]))
        assert await _row_state(settings, rid) == expected_row
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
            stats = (await client.get("/v1/stats", headers={"Authorization": f"Bearer {reader}"})).json()
            assert stats["emergency_sla"] == expected_board
            snapshot = (await client.get("/dashboard/snapshot", headers={"Authorization": f"Bearer {reader}"})).json()
    board_rows = {r["request_id"]: r for r in snapshot.get("sla_board", [])}
    if expected_row[1] == "CLOSED":
        assert str(rid) not in board_rows  # off the board
    else:
        assert board_rows[str(rid)]["sla_state"] == "BREACHED"  # met late, never MET


async def _claimed(settings: Settings, event_ids: list[uuid.UUID]) -> bool:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        found = (await conn.execute(select(PE.c.event_id).where(PE.c.event_id.in_(event_ids)))).all()
    await engine.dispose()
    return len(found) == len(set(event_ids))

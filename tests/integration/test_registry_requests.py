"""Registry on real Kafka + PostgreSQL: requests, decisions and SLA changes arrive on three topics in
any order relative to each other; the request row and the SLA board still end up right."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import select

from services.registry.app import create_app
from services.registry.store import RQ, P
from shared.db import make_engine
from shared.events import EmergencySlaChanged, ParticipantDeactivated, ReactivationDecided, ReactivationRequested
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS, EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, TIMER_EVENTS
from testkit.apps import running
from testkit.kafka import produce
from testkit.polling import eventually

NIK = "3674015708900001"
T0 = dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC)
REQUEST = uuid.uuid4()


def emergency_request() -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=T0,
        source="intake",
        nik=NIK,
        request_id=REQUEST,
        path="EMERGENCY",
        channel="HOSPITAL",
        documents={"hospital_letter": {"facility_code": "3674R001", "letter_no": "IGD/1"}},
        received_at=T0,
        sla_deadline=T0 + dt.timedelta(hours=24),
    )


def sla(state: str, hours: int) -> EmergencySlaChanged:
    return EmergencySlaChanged(
        occurred_at=T0 + dt.timedelta(hours=hours),
        source="eligibility",
        nik=NIK,
        request_id=REQUEST,
        sla_state=state,
        sla_deadline=T0 + dt.timedelta(hours=24),
        received_at=T0,
        facility_code="3674R001",
    )


def decision(outcome: str, hours: int, reasons: list[str]) -> ReactivationDecided:
    at = T0 + dt.timedelta(hours=hours)
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid5(REQUEST, outcome),
        request_id=REQUEST,
        path="EMERGENCY",
        channel="HOSPITAL",
        outcome=outcome,
        reasons=reasons,
        policy_version="t",
        received_at=T0,
        decided_at=at,
        sla_deadline=T0 + dt.timedelta(hours=24),
    )


async def request_row(settings: Settings) -> dict | None:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        row = (await conn.execute(select(RQ).where(RQ.c.request_id == REQUEST))).mappings().first()
    await engine.dispose()
    return dict(row) if row else None


async def test_decision_and_sla_before_the_request_still_give_the_right_board(settings: Settings) -> None:
    app = create_app(RegistrySettings(**settings.model_dump()))
    async with running(app):
        reader = await app.state.api_keys.issue("ops", ["dashboard:read"])
        await produce(
            settings,
            PARTICIPANT_EVENTS,
            ParticipantDeactivated(
                occurred_at=T0 - dt.timedelta(days=3),
                source="SIKS-NG",
                nik=NIK,
                reason="NO_BIOMETRIC",
                deactivated_on=dt.date(2026, 8, 28),
            ),
        )
        await eventually(lambda: _participant_status(settings, "INACTIVE"))
        # The clock and a PENDING decision are seen before the request itself, then a late OK.
        await produce(settings, TIMER_EVENTS, sla("WARNING", 12))
        pending = decision("PENDING", 1, ["DOCUMENT_MISSING"])
        await produce(settings, DECISIONS, pending)
        await eventually(lambda: _has(settings, status="PENDING", sla_state="WARNING"))
        await produce(settings, EMERGENCY_REQUESTS, emergency_request())
        await produce(settings, TIMER_EVENTS, sla("OK", 0))
        await eventually(lambda: _has(settings, path="EMERGENCY", facility_code="3674R001"))
        row = await request_row(settings)
        assert row and row["status"] == "PENDING" and row["sla_state"] == "WARNING"
        assert row["reasons"] == ["DOCUMENT_MISSING"] and row["received_at"] == T0

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
            auth = {"Authorization": f"Bearer {reader}"}
            stats = (await client.get("/v1/stats", headers=auth)).json()
            assert stats["emergency_sla"] == board(open=1, warning=1)
            assert stats["decisions_by_outcome"] == {"PENDING": 1}
            assert stats["by_status"] == {"REACTIVATION_PENDING": 1}

            # Approval, then MET; the PENDING decision redelivered late changes nothing.
            await produce(settings, DECISIONS, decision("APPROVED", 13, []))
            await produce(settings, TIMER_EVENTS, sla("MET", 13))
            await produce(settings, DECISIONS, pending)
            await eventually(lambda: _has(settings, status="APPROVED", sla_state="MET"))
            await produce(settings, TIMER_EVENTS, sla("WARNING", 12).model_copy(update={"event_id": uuid.uuid4()}))

            async def board_settled() -> dict | None:
                s = (await client.get("/v1/stats", headers=auth)).json()
                return s if s["by_status"] == {"ACTIVE": 1} and s["anomalies"] == 0 else None

            stats = await eventually(board_settled)
            assert stats["emergency_sla"] == board(met=1)
            assert stats["decisions_by_outcome"] == {"APPROVED": 1}
            found = (await client.get(f"/v1/participants/{NIK}", headers=auth)).json()
            assert [h["status"] for h in found["history"]] == ["INACTIVE", "REACTIVATION_PENDING", "ACTIVE"]
        assert (await request_row(settings) or {}).get("sla_state") == "MET"


def board(**counts: int) -> dict[str, int]:
    return {"open": 0, "warning": 0, "breached": 0, "met": 0, "closed": 0, "met_late": 0, **counts}


async def _has(settings: Settings, **expected: object) -> bool:
    row = await request_row(settings)
    return row is not None and all(row[k] == v for k, v in expected.items())


async def _participant_status(settings: Settings, status: str) -> bool:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        found = (await conn.execute(select(P.c.status).where(P.c.nik == NIK))).scalar()
    await engine.dispose()
    return found == status


async def test_decision_seen_before_its_deactivation_keeps_the_newer_status(settings: Settings) -> None:
    app = create_app(RegistrySettings(**settings.model_dump()))
    async with running(app):
        reader = await app.state.api_keys.issue("ops", ["participants:read"])
        await produce(settings, DECISIONS, decision("PENDING", 1, ["DESIL_UNKNOWN"]))
        await eventually(lambda: _participant_status(settings, "REACTIVATION_PENDING"))
        await produce(
            settings,
            PARTICIPANT_EVENTS,
            ParticipantDeactivated(
                occurred_at=T0 - dt.timedelta(days=3),
                source="SIKS-NG",
                nik=NIK,
                reason="NO_BIOMETRIC",
                deactivated_on=dt.date(2026, 8, 28),
            ),
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
            auth = {"Authorization": f"Bearer {reader}"}

            async def filled_in() -> dict | None:
                found = (await client.get(f"/v1/participants/{NIK}", headers=auth)).json()
                return found if found["deactivation_reason"] == "NO_BIOMETRIC" else None

            found = await eventually(filled_in)
            assert found["status"] == "REACTIVATION_PENDING" and found["deactivated_on"] == "2026-08-28"
            assert found["window_closes_at"].startswith("2027-02-28T23:59:59+07:00")
            assert [(h["event_type"], h["status"]) for h in found["history"]] == [
                ("reactivation.decided", "REACTIVATION_PENDING"),
                ("participant.deactivated", "REACTIVATION_PENDING"),
            ]
            stats = (await client.get("/v1/stats", headers=auth)).json()
            assert stats["anomalies"] == 1  # visible: the decision came before anything was known


async def test_applied_counter_counts_committed_events_once(settings: Settings) -> None:
    """pbi_registry_events_applied_total is what the bench and the dashboard read: a batch that rolls
    back and comes again must count once, a redelivered one not at all."""
    from services.registry import metrics
    from services.registry.handlers import RegistryHandlers
    from shared.db import make_sessions

    def applied() -> float:
        return metrics.APPLIED.labels("participant.deactivated")._value.get()

    wave = [
        ParticipantDeactivated(
            occurred_at=T0,
            source="SIKS-NG",
            nik=f"36740157089{i:05d}",
            reason="DESIL_ABOVE_5",
            deactivated_on=T0.date(),
        )
        for i in range(40, 43)
    ]
    async with running(create_app(RegistrySettings(**settings.model_dump()))):
        engine = make_engine(settings)
        handlers = RegistryHandlers(make_sessions(engine), settings.topic_prefix, lambda: None)
        before = applied()
        real_apply = handlers._apply

        async def apply_then_fail(session, events):  # type: ignore[no-untyped-def]
            await real_apply(session, events)
            raise ConnectionResetError("the database went away before the commit")

        handlers._apply = apply_then_fail  # type: ignore[method-assign]
        try:
            await handlers.on_events(wave)
        except ConnectionResetError:
            pass
        assert applied() == before  # rolled back: nothing applied, nothing counted
        handlers._apply = real_apply  # type: ignore[method-assign]
        await handlers.on_events(wave)
        await handlers.on_events(wave)  # redelivered
        await engine.dispose()
    assert applied() == before + len(wave)

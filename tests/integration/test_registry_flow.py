"""Registry on real Kafka + PostgreSQL: exactly-once history, poison isolation, ordering, API errors."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import httpx
from sqlalchemy import func, select

from services.registry.app import create_app
from services.registry.store import H, P
from shared.db import make_engine
from shared.events import ParticipantDeactivated, ParticipantStatusChanged, ReactivationDecided
from shared.kafka import HEADER_REASON
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS, PARTICIPANT_EVENTS, STATUS_CHANGES
from testkit.apps import running
from testkit.kafka import TopicReader, produce
from testkit.polling import eventually

NIK = "3674015708900001"
T0 = dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC)


def deactivation(nik: str = NIK) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=T0,
        source="SIKS-NG",
        nik=nik,
        reason="DESIL_ABOVE_5",
        deactivated_on=dt.date(2026, 8, 31),
        phone="081234567890",
    )


def decision(outcome: str, at: dt.datetime, reasons: list[str] | None = None) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        path="REGULAR",
        channel="VILLAGE",
        outcome=outcome,
        reasons=reasons or [],
        policy_version="t",
        received_at=at,
        decided_at=at,
    )


async def count(settings: Settings, table, *where) -> int:  # type: ignore[no-untyped-def]
    engine = make_engine(settings)
    async with engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar()
    await engine.dispose()
    return int(n or 0)


async def test_same_event_twice_gives_one_history_row_and_one_status_change(settings: Settings) -> None:
    event = deactivation()
    async with (
        running(create_app(RegistrySettings(**settings.model_dump()))),
        TopicReader(settings, settings.topic_prefix + STATUS_CHANGES.name) as changes,
    ):
        await produce(settings, PARTICIPANT_EVENTS, event, event)
        await changes.wait_for(lambda e: isinstance(e, ParticipantStatusChanged))
        await eventually(lambda: count(settings, H, H.c.nik == NIK))
        await produce(settings, PARTICIPANT_EVENTS, event)  # a third delivery, later
        later = deactivation("3674015708900002")
        await produce(settings, PARTICIPANT_EVENTS, later)
        await eventually(lambda: count(settings, P, P.c.nik == later.nik))
        await changes.poll()
    assert await count(settings, H, H.c.nik == NIK) == 1
    assert len([e for e in changes.events if e.nik == NIK]) == 1


async def test_poison_in_a_batch_is_dead_lettered_and_the_rest_applied(settings: Settings) -> None:
    good = [deactivation(f"36740157089000{i:02d}") for i in range(1, 6)]
    async with (
        running(create_app(RegistrySettings(**settings.model_dump()))),
        TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.dlq) as dlq,
    ):
        bad = json.loads(good[0].model_dump_json()) | {"event_id": str(uuid.uuid4()), "reason": ""}
        await produce(settings, PARTICIPANT_EVENTS, good[0], good[1], key=NIK.encode())
        await produce(settings, PARTICIPANT_EVENTS, json.dumps(bad).encode(), key=NIK.encode())
        await produce(settings, PARTICIPANT_EVENTS, *good[2:])
        await eventually(lambda: _equals(count(settings, P), 5))
        await eventually(lambda: _nonempty(dlq))
    reason = dict(dlq.raw[0].headers)[HEADER_REASON].decode()
    assert "reason" in reason and "schema violation" in reason


async def _equals(awaitable, value) -> bool:  # type: ignore[no-untyped-def]
    return await awaitable == value


async def _nonempty(reader: TopicReader) -> bool:
    await reader.poll()
    return bool(reader.raw)


async def test_out_of_order_decision_is_an_anomaly_not_a_regression(settings: Settings) -> None:
    async with running(create_app(RegistrySettings(**settings.model_dump()))):
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: count(settings, P, P.c.nik == NIK))
        await produce(settings, DECISIONS, decision("APPROVED", T0 + dt.timedelta(days=2)))
        await eventually(lambda: count(settings, P, P.c.status == "ACTIVE"))
        # A PENDING decision stamped earlier than the approval arrives late: the status must not go back.
        await produce(settings, DECISIONS, decision("PENDING", T0 + dt.timedelta(days=1), ["DESIL_UNKNOWN"]))
        from services.registry.store import A

        await eventually(lambda: count(settings, A, A.c.kind == "STALE_EVENT"))
    assert await count(settings, P, P.c.status == "ACTIVE") == 1


async def test_api_auth_and_errors(settings: Settings) -> None:
    app = create_app(RegistrySettings(**settings.model_dump()))
    async with running(app):
        reader = await app.state.api_keys.issue("ops", ["participants:read"])
        writer = await app.state.api_keys.issue("feed", ["events:write"])
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: count(settings, P, P.c.nik == NIK))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
            assert (await client.get(f"/v1/participants/{NIK}")).status_code == 401
            assert (
                await client.get(f"/v1/participants/{NIK}", headers={"Authorization": "Bearer pbi_nope_nope"})
            ).status_code == 401
            assert (
                await client.get(f"/v1/participants/{NIK}", headers={"Authorization": f"Bearer {writer}"})
            ).status_code == 403
            auth = {"Authorization": f"Bearer {reader}"}
            bad = await client.get("/v1/participants/3674015708900000", headers=auth)
            assert bad.status_code == 422 and "serial" in bad.text and "nik" in bad.text
            assert (await client.get("/v1/participants/3674015708900009", headers=auth)).status_code == 404
            found = (await client.get(f"/v1/participants/{NIK}", headers=auth)).json()
            assert found["status"] == "INACTIVE" and found["deactivation_reason"] == "DESIL_ABOVE_5"
            assert found["window_closes_at"].startswith("2027-02-28T23:59:59")
            assert [h["event_type"] for h in found["history"]] == ["participant.deactivated"]
            stats = (await client.get("/v1/stats", headers=auth)).json()
            assert stats["by_status"] == {"INACTIVE": 1}
            region = stats["by_region"][0]
            labels = (region["province"], region["regency"], region["district"])
            assert labels == ("Banten", "Kota Tangerang Selatan", "Serpong")


async def test_events_for_one_nik_in_one_batch_are_applied_in_order(settings: Settings) -> None:
    from shared.events import BiometricRecorded, DesilUpdated, IdSemestaAssigned

    at = T0 + dt.timedelta(hours=1)
    events = [
        deactivation(),
        DesilUpdated(occurred_at=at, source="DTSEN", nik=NIK, desil=7, effective_on=dt.date(2026, 9, 1)),
        DesilUpdated(occurred_at=at, source="DTSEN", nik=NIK, desil=3, effective_on=dt.date(2026, 9, 2)),
        BiometricRecorded(occurred_at=at, source="DUKCAPIL", nik=NIK, recorded_on=dt.date(2026, 9, 2)),
        IdSemestaAssigned(occurred_at=at, source="SIKS-NG", nik=NIK, id_semesta="IDS-42"),
    ]
    # Produced before the registry starts: they reach it as one fetched batch.
    await produce(settings, PARTICIPANT_EVENTS, *events)
    app = create_app(RegistrySettings(**settings.model_dump()))
    async with running(app):
        await eventually(lambda: _equals(count(settings, H, H.c.nik == NIK), 5))
        reader = await app.state.api_keys.issue("ops", ["participants:read"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry") as client:
            found = (await client.get(f"/v1/participants/{NIK}", headers={"Authorization": f"Bearer {reader}"})).json()
    assert [h["event_id"] for h in found["history"]] == [str(e.event_id) for e in events]
    assert (found["status"], found["desil"], found["biometric_recorded"], found["id_semesta"]) == (
        "INACTIVE",
        3,
        True,
        "IDS-42",
    )

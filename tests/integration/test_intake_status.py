"""GET /v1/reactivations/{id} follows decisions and SLA events from Kafka; late or repeated events
never move a request backwards. Broker down -> 503 and nothing published; broker back -> accepted.
A 503 whose publish Kafka did commit still ends with the request's real decision."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.intake.app import create_app
from services.intake.store import RequestView
from shared.enums import Channel, Outcome, ReactivationPath, SlaState
from shared.events import EmergencySlaChanged, ReactivationDecided, ReactivationRequested
from shared.messaging import DirectPublisher, PublishFailed, Record
from shared.settings import IntakeSettings, Settings
from shared.topics import DECISIONS, EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, TIMER_EVENTS
from testkit.apps import running
from testkit.kafka import TopicReader, consumed, produce
from testkit.polling import eventually

NIK = "3674015708900001"
EMERGENCY = {
    "nik": NIK,
    "facility_code": "3674R001",
    "letter_no": "IGD/7",
    "admitted_at": "2026-11-24T08:00:00+07:00",
    "diagnosis_icd10": "I21.9",
}


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], FastAPI]]:
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with running(app):
        hospital = await app.state.api_keys.issue("rs", ["emergency:write"], ["3674R001"])
        reader = await app.state.api_keys.issue("ops", ["participants:read"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            yield client, {"hospital": f"Bearer {hospital}", "reader": f"Bearer {reader}"}, app


def decided(
    request: ReactivationRequested, outcome: Outcome, at: dt.datetime, reasons: list[str]
) -> ReactivationDecided:
    return ReactivationDecided(
        event_id=uuid.uuid5(request.request_id, outcome.value),
        occurred_at=at,
        source="eligibility",
        nik=request.nik,
        decision_id=uuid.uuid5(request.request_id, outcome.value),
        request_id=request.request_id,
        path=ReactivationPath.EMERGENCY,
        channel=Channel.HOSPITAL,
        outcome=outcome,
        reasons=reasons,
        policy_version="test",
        received_at=request.received_at,
        decided_at=at,
        sla_deadline=request.sla_deadline,
    )


def sla(request: ReactivationRequested, state: SlaState) -> EmergencySlaChanged:
    assert request.sla_deadline is not None
    return EmergencySlaChanged(
        event_id=uuid.uuid5(request.request_id, f"sla-{state}"),
        occurred_at=dt.datetime.now(dt.UTC),
        source="eligibility",
        nik=request.nik,
        request_id=request.request_id,
        sla_state=state,
        sla_deadline=request.sla_deadline,
        received_at=request.received_at,
        facility_code="3674R001",
    )


async def test_status_follows_decisions_and_never_goes_backwards(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys, app = intake
    async with TopicReader(settings, settings.topic_prefix + EMERGENCY_REQUESTS.name) as lane:
        r = await client.post(
            "/v1/hospital/emergency-reactivations", json=EMERGENCY, headers={"Authorization": keys["hospital"]}
        )
        assert r.status_code == 202
        [request] = await lane.wait_for(lambda e: isinstance(e, ReactivationRequested))
    assert request.facility_registered is False  # 3674R001 is not in this test's facility registry
    assert "I21.9" not in request.model_dump_json()  # the diagnosis is validated, never carried (api.EmergencyBody)
    url = f"/v1/reactivations/{request.request_id}"
    t0 = request.received_at

    async def status(expected: dict) -> dict:  # type: ignore[type-arg]
        body = (await client.get(url, headers={"Authorization": keys["reader"]})).json()
        return body if all(body.get(k) == v for k, v in expected.items()) else {}

    pending = decided(request, Outcome.PENDING, t0 + dt.timedelta(minutes=1), ["BIOMETRIC_MISSING"])
    await produce(settings, DECISIONS, pending)
    await produce(settings, TIMER_EVENTS, sla(request, SlaState.WARNING))
    await eventually(lambda: status({"status": "PENDING", "reasons": ["BIOMETRIC_MISSING"], "sla_state": "WARNING"}))

    approved = decided(request, Outcome.APPROVED, t0 + dt.timedelta(minutes=5), [])
    await produce(settings, DECISIONS, approved)
    await produce(settings, TIMER_EVENTS, sla(request, SlaState.MET))
    body = await eventually(lambda: status({"status": "APPROVED", "sla_state": "MET"}))
    assert body["decided_at"] is not None and body["reasons"] == []

    # Redelivered PENDING, a PENDING with a newer clock, a late WARNING: none of them reopens the request.
    late_pending = decided(request, Outcome.PENDING, t0 + dt.timedelta(minutes=9), ["DESIL_UNKNOWN"])
    late_pending = late_pending.model_copy(update={"event_id": uuid.uuid4()})
    await produce(settings, DECISIONS, pending, late_pending)
    late_warning = sla(request, SlaState.WARNING).model_copy(update={"event_id": uuid.uuid4()})
    await produce(settings, TIMER_EVENTS, late_warning)
    await eventually(lambda: _all_handled(settings))  # the read model has been through all of them
    body = (await client.get(url, headers={"Authorization": keys["reader"]})).json()
    assert body["status"] == "APPROVED" and body["sla_state"] == "MET" and body["reasons"] == []


async def _emergency(settings: Settings, client: httpx.AsyncClient, keys: dict[str, str], letter: str):  # type: ignore[no-untyped-def]
    async with TopicReader(settings, settings.topic_prefix + EMERGENCY_REQUESTS.name) as lane:
        body = {**EMERGENCY, "letter_no": letter}
        r = await client.post(
            "/v1/hospital/emergency-reactivations", json=body, headers={"Authorization": keys["hospital"]}
        )
        assert r.status_code == 202
        [request] = await lane.wait_for(lambda e: isinstance(e, ReactivationRequested))
    return request


async def _shown(client: httpx.AsyncClient, keys: dict[str, str], request_id: uuid.UUID, **expected: object) -> dict:  # type: ignore[type-arg]
    body = (await client.get(f"/v1/reactivations/{request_id}", headers={"Authorization": keys["reader"]})).json()
    return body if all(body.get(k) == v for k, v in expected.items()) else {}


async def _all_handled(settings: Settings) -> bool:
    """The read model committed its offsets to the end of both its topics: every event produced so far,
    duplicates included, was handled (no inbox row tells it: each effect de-duplicates itself)."""
    return await consumed(settings, DECISIONS) and await consumed(settings, TIMER_EVENTS)


async def test_an_approval_after_the_breach_stays_breached(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys, app = intake
    request = await _emergency(settings, client, keys, "IGD/late")
    t0 = request.received_at
    await produce(settings, TIMER_EVENTS, sla(request, SlaState.WARNING), sla(request, SlaState.BREACHED))
    await eventually(lambda: _shown(client, keys, request.request_id, sla_state="BREACHED"))
    # Approved at 30 h; eligibility then says MET (stamped at the approval).
    approved = decided(request, Outcome.APPROVED, t0 + dt.timedelta(hours=30), [])
    met = sla(request, SlaState.MET).model_copy(update={"occurred_at": t0 + dt.timedelta(hours=30)})
    await produce(settings, DECISIONS, approved)
    await produce(settings, TIMER_EVENTS, met)
    await eventually(lambda: _all_handled(settings))
    body = await _shown(client, keys, request.request_id)
    assert body["status"] == "APPROVED" and body["sla_state"] == "BREACHED"  # met late, never MET


async def test_an_approval_after_the_deadline_is_breached_even_without_the_timer_events(
    settings: Settings, intake
) -> None:  # type: ignore[no-untyped-def]
    client, keys, app = intake
    request = await _emergency(settings, client, keys, "IGD/no-timer")
    approved = decided(request, Outcome.APPROVED, request.received_at + dt.timedelta(hours=30), [])
    await produce(settings, DECISIONS, approved)
    body = await eventually(lambda: _shown(client, keys, request.request_id, status="APPROVED"))
    assert body["sla_state"] == "BREACHED"


async def test_an_approved_emergency_shows_the_sla_of_its_decision_time(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    """GET judges a decided emergency's clock at its decision, not at its receipt: rows approved 30 h and 13 h
    after receipt whose stored state is still the WARNING of before (as a row decided before the read model
    folded a decision's own state) show BREACHED (met late) and MET."""
    client, keys, app = intake
    received = dt.datetime.now(dt.UTC) - dt.timedelta(hours=40)
    late, in_time = uuid.uuid4(), uuid.uuid4()
    async with app.state.sessions() as session, session.begin():
        for request_id, hours in ((late, 30), (in_time, 13)):
            decided_at = received + dt.timedelta(hours=hours)
            session.add(
                RequestView(
                    request_id=request_id,
                    nik=NIK,
                    path="EMERGENCY",
                    facility_code="3674R001",
                    status="APPROVED",
                    reasons=[],
                    received_at=received,
                    decided_at=decided_at,
                    sla_deadline=received + dt.timedelta(hours=24),
                    sla_state="WARNING",
                    last_event_at=decided_at,
                )
            )
    assert (await _shown(client, keys, late))["sla_state"] == "BREACHED"
    assert (await _shown(client, keys, in_time))["sla_state"] == "MET"


async def test_a_rejected_emergency_is_closed_and_a_late_breach_does_not_reopen_it(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys, app = intake
    request = await _emergency(settings, client, keys, "IGD/rejected")
    await produce(settings, TIMER_EVENTS, sla(request, SlaState.WARNING))
    rejected = decided(request, Outcome.REJECTED, request.received_at + dt.timedelta(hours=13), ["DECEASED"])
    await produce(settings, DECISIONS, rejected)
    await eventually(lambda: _shown(client, keys, request.request_id, status="REJECTED", sla_state="CLOSED"))
    late = sla(request, SlaState.BREACHED)  # a timer event that raced the rejection
    await produce(settings, TIMER_EVENTS, late)
    await eventually(lambda: _all_handled(settings))
    body = await _shown(client, keys, request.request_id)
    assert body["status"] == "REJECTED" and body["sla_state"] == "CLOSED"


class KafkaGate:
    """A bootstrap address that refuses connections until opened, then forwards to the real Kafka
    (which advertises its own address, so later connections go to Kafka directly)."""

    def __init__(self, target: str) -> None:
        self.host, port = target.rsplit(":", 1)
        self.target_port = int(port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def open(self) -> None:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        self.server = await asyncio.start_server(forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_broker_down_then_back(settings: Settings) -> None:
    """While Kafka is unreachable every POST is 503 with Retry-After and nothing reaches a topic;
    when it comes back the same requests are accepted and the read-model consumer starts by itself."""
    gate = KafkaGate(settings.kafka_bootstrap_servers)
    app = create_app(IntakeSettings(**{**settings.model_dump(), "kafka_bootstrap_servers": gate.address}))
    batch = {
        "events": [
            {
                "type": "participant.biometric_recorded",
                "occurred_at": "2026-11-24T08:00:00Z",
                "source": "BPJS",
                "nik": NIK,
                "recorded_on": "2026-11-24",
            }
        ]
        * 3
    }
    async with (
        running(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client,
    ):
        events_key = await app.state.api_keys.issue("feed", ["events:write"])
        hospital = f"Bearer {await app.state.api_keys.issue('rs', ['emergency:write'], ['3674R001'])}"
        r1 = await client.post("/v1/events", json=batch, headers={"Authorization": f"Bearer {events_key}"})
        r2 = await client.post(
            "/v1/hospital/emergency-reactivations",
            json=EMERGENCY,
            headers={"Authorization": hospital, "Idempotency-Key": "k1"},
        )
        assert r1.status_code == r2.status_code == 503
        assert r1.headers["Retry-After"] and r2.headers["Retry-After"]
        assert (await client.get("/readyz")).status_code == 503

        await gate.open()  # the broker is back
        try:
            again = await client.post("/v1/events", json=batch, headers={"Authorization": f"Bearer {events_key}"})
            emergency = await client.post(
                "/v1/hospital/emergency-reactivations",
                json=EMERGENCY,
                headers={"Authorization": hospital, "Idempotency-Key": "k1"},  # the 503 did not burn the key
            )
            assert again.status_code == 202 and again.json()["accepted"] == 3
            assert emergency.status_code == 202
            await eventually(lambda: _ready(client), timeout=60)

            async with TopicReader(settings, settings.topic_prefix + EMERGENCY_REQUESTS.name) as lane:
                [request] = await lane.wait_for(lambda e: isinstance(e, ReactivationRequested))
            await produce(settings, DECISIONS, decided(request, Outcome.APPROVED, request.received_at, []))

            async def approved() -> bool:
                r = await client.get(f"/v1/reactivations/{request.request_id}", headers={"Authorization": hospital})
                return r.json()["status"] == "APPROVED"

            await eventually(approved)  # the consumer that could not start at first is running now
        finally:
            await gate.close()
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        await topic.wait_for(lambda e: True)
        for _ in range(3):
            await topic.poll()
        assert len(topic.raw) == 3  # only the accepted batch, once


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


class AcksLost:
    """intake's lone-event producer whose records reach Kafka but whose acknowledgement never comes back
    (a timeout while the brokers recover): the publish's outcome is unknown to intake, Kafka has it."""

    def __init__(self, real: DirectPublisher) -> None:
        self.real = real

    async def send(self, records: list[Record]) -> asyncio.Future[None]:
        await (await self.real.send(records))  # committed

        async def lost() -> None:
            raise PublishFailed("KafkaTimeoutError")

        return asyncio.ensure_future(lost())

    async def publish(self, records: list[Record]) -> None:
        await (await self.send(records))


@pytest.mark.parametrize("decided_first", [True, False])
async def test_a_retry_after_an_ambiguous_503_ends_with_the_requests_real_decision(
    settings: Settings,
    intake,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    decided_first: bool,
) -> None:
    """The 503 of a publish whose outcome is unknown keeps the RECEIVED row, so the decision of the
    request Kafka did take fills it, before or after the client's retry (same Idempotency-Key), and the
    retry publishes the very same event again (same id, same receipt), which consumers ignore."""
    client, keys, app = intake
    hospital = {"Authorization": keys["hospital"], "Idempotency-Key": "ambiguous-1"}
    publisher = app.state.publisher
    async with TopicReader(settings, settings.topic_prefix + EMERGENCY_REQUESTS.name) as lane:
        with monkeypatch.context() as patched:
            patched.setattr(publisher, "_single", AcksLost(publisher._single))
            first = await client.post("/v1/hospital/emergency-reactivations", json=EMERGENCY, headers=hospital)
        assert first.status_code == 503, first.text
        [request] = await lane.wait_for(lambda e: isinstance(e, ReactivationRequested))
        url = f"/v1/reactivations/{request.request_id}"

        async def shows(status: str) -> bool:
            r = await client.get(url, headers={"Authorization": keys["reader"]})
            return r.status_code == 200 and r.json()["status"] == status

        approval = decided(request, Outcome.APPROVED, request.received_at + dt.timedelta(seconds=2), [])
        if decided_first:
            await produce(settings, DECISIONS, approval)
            await eventually(lambda: shows("APPROVED"))
        retry = await client.post("/v1/hospital/emergency-reactivations", json=EMERGENCY, headers=hospital)
        assert retry.status_code == 202, retry.text
        assert retry.json()["request_id"] == str(request.request_id)
        assert dt.datetime.fromisoformat(retry.json()["sla_deadline"]) == request.sla_deadline
        if not decided_first:
            await produce(settings, DECISIONS, approval)
        await eventually(lambda: shows("APPROVED"))
        again = await lane.read_to_end()
    assert again == [request, request]  # the same event, published twice: consumers keep the first

"""Intake's public contract on real Kafka + PostgreSQL: every endpoint and error path."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.intake.app import create_app
from services.intake.store import Facility
from shared.events import ParticipantDeactivated, ReactivationRequested
from shared.settings import IntakeSettings, Settings
from shared.topics import EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from testkit import bodies
from testkit.apps import running
from testkit.kafka import TopicReader

NIK = "3674015708900001"


def deactivation(nik: str = NIK, **extra: object) -> dict:
    """A deactivation with the phone number written as a source writes it."""
    return bodies.deactivation(nik, **{"phone": "0812-3456-7890", **extra})


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with running(app):
        store = app.state.api_keys
        keys = {
            "events": await store.issue("feed", ["events:write"]),
            "dinsos": await store.issue("dinsos", ["reactivations:write"]),
            "reader": await store.issue("ops", ["participants:read"]),
            "hospital": await store.issue("rs", ["emergency:write"], ["3674R001"]),
            "other_hospital": await store.issue("rs2", ["emergency:write"], ["3674R002"]),
        }
        async with app.state.sessions() as session, session.begin():
            session.add(Facility(code="3674R001", name="RSUD Tangsel"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            yield client, {k: f"Bearer {v}" for k, v in keys.items()}


async def test_single_event_is_published_with_normalised_phone(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        r = await client.post("/v1/events", json=deactivation(), headers={"Authorization": keys["events"]})
        assert r.status_code == 202 and r.json()["accepted"] == 1
        [event] = await topic.wait_for(lambda e: isinstance(e, ParticipantDeactivated))
    assert str(event.event_id) == r.json()["event_ids"][0] and event.phone == "+6281234567890"


async def test_batch_with_one_bad_event_is_rejected_whole_naming_index_and_field(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    batch = {"events": [deactivation(), deactivation("3674015708900002", reason=""), deactivation("3674015708900000")]}
    r = await client.post("/v1/events", json=batch, headers={"Authorization": keys["events"]})
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "events", 1, "participant.deactivated", "reason"] in locs
    assert ["body", "events", 2, "participant.deactivated", "nik"] in locs
    assert "3674015708900000" not in r.text  # never echoes a whole NIK back
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        await topic.poll()
        assert topic.raw == []


async def test_batch_is_accepted_whole_and_retry_without_ids_deduplicates(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    batch = {"events": [deactivation(f"36740157089000{i:02d}") for i in range(1, 51)]}
    first = await client.post("/v1/events", json=batch, headers={"Authorization": keys["events"]})
    again = await client.post("/v1/events", json=batch, headers={"Authorization": keys["events"]})
    assert first.status_code == again.status_code == 202
    assert first.json()["event_ids"] == again.json()["event_ids"]  # same content, same ids: consumers de-duplicate


async def test_auth_errors(intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    assert (await client.post("/v1/events", json=deactivation())).status_code == 401
    assert (
        await client.post("/v1/events", json=deactivation(), headers={"Authorization": "Bearer pbi_0000_nope"})
    ).status_code == 401
    assert (
        await client.post("/v1/events", json=deactivation(), headers={"Authorization": keys["dinsos"]})
    ).status_code == 403
    body = {"nik": NIK, "facility_code": "3674R001", "letter_no": "IGD/1", "admitted_at": "2026-11-24T08:00:00+07:00"}
    assert (
        await client.post(
            "/v1/hospital/emergency-reactivations", json=body, headers={"Authorization": keys["other_hospital"]}
        )
    ).status_code == 403
    assert (
        await client.post(
            "/v1/reactivations",
            json={"nik": NIK, "path": "REGULAR", "channel": "VILLAGE"},
            headers={"Authorization": keys["hospital"]},
        )
    ).status_code == 403


async def test_emergency_goes_to_its_own_lane_with_a_24h_deadline(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    body = {
        "nik": NIK,
        "facility_code": "3674R001",
        "letter_no": "IGD/1",
        "admitted_at": "2026-11-24T08:00:00+07:00",
        "phone": "081234567890",
    }
    async with TopicReader(settings, settings.topic_prefix + EMERGENCY_REQUESTS.name) as lane:
        r = await client.post(
            "/v1/hospital/emergency-reactivations", json=body, headers={"Authorization": keys["hospital"]}
        )
        assert r.status_code == 202
        [event] = await lane.wait_for(lambda e: isinstance(e, ReactivationRequested))
    deadline = dt.datetime.fromisoformat(r.json()["sla_deadline"])
    assert event.request_id == uuid.UUID(r.json()["request_id"]) and event.facility_registered is True
    assert abs((deadline - event.received_at) - dt.timedelta(hours=24)) < dt.timedelta(seconds=1)
    status = await client.get(f"/v1/reactivations/{event.request_id}", headers={"Authorization": keys["hospital"]})
    assert status.status_code == 200 and status.json()["status"] == "RECEIVED" and status.json()["sla_state"] == "OK"
    other = await client.get(f"/v1/reactivations/{event.request_id}", headers={"Authorization": keys["other_hospital"]})
    assert other.status_code == 403


async def test_reactivation_request_and_status_404(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    async with TopicReader(settings, settings.topic_prefix + REACTIVATION_REQUESTS.name) as topic:
        r = await client.post(
            "/v1/reactivations",
            json={"nik": NIK, "path": "REGULAR", "channel": "VILLAGE"},
            headers={"Authorization": keys["dinsos"]},
        )
        assert r.status_code == 202 and r.json()["status"] == "RECEIVED"
        await topic.wait_for(lambda e: isinstance(e, ReactivationRequested))
    missing = await client.get(f"/v1/reactivations/{uuid.uuid4()}", headers={"Authorization": keys["reader"]})
    assert missing.status_code == 404
    bad = await client.post(
        "/v1/reactivations",
        json={"nik": "12", "path": "FAST", "channel": "VILLAGE"},
        headers={"Authorization": keys["dinsos"]},
    )
    assert bad.status_code == 422 and {tuple(e["loc"]) for e in bad.json()["errors"]} >= {
        ("body", "nik"),
        ("body", "path"),
    }


async def test_idempotency_key_replays_and_conflicts(intake) -> None:  # type: ignore[no-untyped-def]
    client, keys = intake
    headers = {"Authorization": keys["dinsos"], "Idempotency-Key": "abc-1"}
    body = {"nik": NIK, "path": "REGULAR", "channel": "DINSOS"}
    first = await client.post("/v1/reactivations", json=body, headers=headers)
    second = await client.post("/v1/reactivations", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["request_id"] == second.json()["request_id"]
    conflict = await client.post("/v1/reactivations", json={**body, "channel": "VILLAGE"}, headers=headers)
    assert conflict.status_code == 409


async def test_broker_down_gives_503_and_nothing_is_accepted(settings: Settings) -> None:
    down = IntakeSettings(**{**settings.model_dump(), "kafka_bootstrap_servers": "127.0.0.1:1"})
    app = create_app(down)
    async with running(app):
        key = await app.state.api_keys.issue("feed", ["events:write"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            r = await client.post("/v1/events", json=deactivation(), headers={"Authorization": f"Bearer {key}"})
            ready = await client.get("/readyz")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert ready.status_code == 503 and ready.json()["checks"]["kafka"].startswith("unavailable")

"""Idempotency-Key under concurrency and across all POSTs: one key, one publish."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
from sqlalchemy import update

from services.intake.api import STALE_CLAIM
from services.intake.app import create_app
from services.intake.store import IdempotencyKey
from shared.events import ReactivationRequested
from shared.settings import IntakeSettings, Settings
from shared.topics import PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from shared.tx_lease import TransactionalIdLease
from testkit.apps import running
from testkit.kafka import TopicReader

NIK = "3674015708900001"


async def test_concurrent_retries_with_one_key_publish_once(settings: Settings) -> None:
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with running(app):
        key = await app.state.api_keys.issue("dinsos", ["reactivations:write", "events:write"])
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "retry-storm"}
        body = {"nik": NIK, "path": "CHRONIC", "channel": "DINSOS"}
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client,
            TopicReader(settings, settings.topic_prefix + REACTIVATION_REQUESTS.name) as topic,
        ):
            answers = await asyncio.gather(
                *(client.post("/v1/reactivations", json=body, headers=headers) for _ in range(8))
            )
            accepted = [a for a in answers if a.status_code == 202]
            assert accepted and all(a.status_code in (202, 409) for a in answers), [a.status_code for a in answers]
            assert len({a.json()["request_id"] for a in accepted}) == 1
            later = await client.post("/v1/reactivations", json=body, headers=headers)
            assert later.status_code == 202 and later.json() == accepted[0].json()
            assert later.headers["Idempotent-Replay"] == "true"

            [event] = await topic.wait_for(lambda e: isinstance(e, ReactivationRequested))
            for _ in range(3):
                await topic.poll()
            assert len(topic.raw) == 1 and str(event.request_id) == accepted[0].json()["request_id"]

            # The same key is the caller's own per principal; a 422 does not burn it.
            bad = await client.post("/v1/events", json={"nik": NIK}, headers={**headers, "Idempotency-Key": "ev-1"})
            assert bad.status_code == 422
            event_body = {
                "type": "participant.death_reported",
                "occurred_at": "2026-11-20T10:00:00+07:00",
                "source": "Dukcapil",
                "nik": NIK,
                "died_on": "2026-11-19",
            }
            ok = await client.post("/v1/events", json=event_body, headers={**headers, "Idempotency-Key": "ev-1"})
            again = await client.post("/v1/events", json=event_body, headers={**headers, "Idempotency-Key": "ev-1"})
            assert ok.status_code == again.status_code == 202 and ok.json() == again.json()
            conflict = await client.post(
                "/v1/events",
                json={**event_body, "died_on": "2026-11-18"},
                headers={**headers, "Idempotency-Key": "ev-1"},
            )
            assert conflict.status_code == 409
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as events:
        await events.wait_for(lambda e: True)
        for _ in range(3):
            await events.poll()
        assert len(events.raw) == 1


async def test_a_retry_after_intake_died_mid_request_publishes_the_same_request(settings: Settings) -> None:
    """Intake published, then died before answering: the key's claim is left IN_PROGRESS. Once it is
    stale the client's retry is accepted again, and it must be the same request (same ids), which
    consumers de-duplicate, not a second request for the same person."""
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with running(app):
        key = await app.state.api_keys.issue("rsud", ["reactivations:write"])
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "simrs-77"}
        body = {"nik": NIK, "path": "REGULAR", "channel": "VILLAGE"}
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client,
            TopicReader(settings, settings.topic_prefix + REACTIVATION_REQUESTS.name) as topic,
        ):
            first = await client.post("/v1/reactivations", json=body, headers=headers)
            assert first.status_code == 202
            t = IdempotencyKey.__table__
            async with app.state.sessions() as session, session.begin():  # as a crash would leave it
                await session.execute(
                    update(t)
                    .where(t.c.key == "simrs-77")
                    .values(status_code=0, response={}, created_at=dt.datetime.now(dt.UTC) - STALE_CLAIM * 2)
                )
            retry = await client.post("/v1/reactivations", json=body, headers=headers)
            assert retry.status_code == 202, retry.text
            assert retry.json()["request_id"] == first.json()["request_id"]
            await topic.wait_for(lambda e: isinstance(e, ReactivationRequested))
            for _ in range(5):
                await topic.poll()
            events = [e for e in topic.events if isinstance(e, ReactivationRequested)]
            assert len(events) == 2 and len({e.event_id for e in events}) == 1
            status = await client.get(f"/v1/reactivations/{first.json()['request_id']}", headers=headers)
            assert status.status_code == 200 and status.json()["status"] == "RECEIVED"


async def test_a_fresh_claim_is_taken_over_at_once_only_when_the_process_that_made_it_died(settings: Settings) -> None:
    """A claim names its process (the instance token it holds a lock on, shared.tx_lease). A retry takes over a
    claim whose process died, at once; one made by a live process, or by a process from before the token (NULL),
    still answers 409 until the claim is stale."""
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with running(app):
        key = await app.state.api_keys.issue("rsud", ["reactivations:write"])
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "simrs-78"}
        body = {"nik": NIK, "path": "REGULAR", "channel": "VILLAGE"}
        dead = TransactionalIdLease(app.state.lease.engine, "another-intake")
        dead_token = await dead.held_instance()
        await dead.release()  # as PostgreSQL releases a killed process's locks
        t = IdempotencyKey.__table__

        async def left_in_progress_by(holder: int | None) -> None:
            async with app.state.sessions() as session, session.begin():
                await session.execute(
                    update(t)
                    .where(t.c.key == "simrs-78")
                    .values(status_code=0, response={}, created_at=dt.datetime.now(dt.UTC), holder=holder)
                )

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            first = await client.post("/v1/reactivations", json=body, headers=headers)
            assert first.status_code == 202
            for alive in (await app.state.lease.held_instance(), None):
                await left_in_progress_by(alive)
                busy = await client.post("/v1/reactivations", json=body, headers=headers)
                assert busy.status_code == 409 and "still being processed" in busy.text
            await left_in_progress_by(dead_token)
            retry = await client.post("/v1/reactivations", json=body, headers=headers)
            assert retry.status_code == 202, retry.text
            assert retry.json()["request_id"] == first.json()["request_id"]

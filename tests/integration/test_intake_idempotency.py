"""Idempotency-Key under concurrency and across all POSTs: one key, one publish."""

from __future__ import annotations

import asyncio

import httpx

from services.intake.app import create_app
from shared.events import ReactivationRequested
from shared.settings import IntakeSettings, Settings
from shared.topics import PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from tests.integration.helpers import TopicReader, running

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

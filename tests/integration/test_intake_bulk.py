"""Big batches go through the bulk worker process (services.intake.bulk) on real Kafka + PostgreSQL:
accepted whole with the request's correlation id, refused whole naming the event, replayed under an
Idempotency-Key, and a dead worker costs one 503, not the service."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from services.intake.api import THREAD_BATCH
from services.intake.app import create_app
from shared.settings import IntakeSettings, Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.apps import running
from testkit.bodies import deactivation
from testkit.kafka import TopicReader
from testkit.polling import eventually

N = THREAD_BATCH + 100  # big enough for the worker


def batch(first: int = 0) -> dict:
    return {"events": [deactivation(f"3674015708{910001 + first + i:06d}", phone="0812-3456-7890") for i in range(N)]}


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], object]]:
    app = create_app(IntakeSettings(**settings.model_dump()))
    async with running(app):
        key = await app.state.api_keys.issue("feed", ["events:write"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            yield client, {"Authorization": f"Bearer {key}"}, app


async def test_a_big_batch_is_published_whole_with_the_correlation_id_and_replayed(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, auth, _ = intake
    headers = {**auth, "Idempotency-Key": "wave-1", "X-Correlation-ID": "wave-1-corr"}
    first = await client.post("/v1/events", json=batch(), headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == N and len(set(first.json()["event_ids"])) == N
    again = await client.post("/v1/events", json=batch(), headers=headers)
    assert again.status_code == 202 and again.headers.get("Idempotent-Replay") == "true"
    assert again.json() == first.json()
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        await topic.wait_for(lambda e: len(topic.events) >= N)
        await topic.poll()  # anything more would be a second copy
    assert sorted(str(e.event_id) for e in topic.events) == sorted(first.json()["event_ids"])  # each once
    assert all(dict(r.headers)["x-correlation-id"] == b"wave-1-corr" for r in topic.raw)
    assert all(dict(r.headers)["x-event-type"] == b"participant.deactivated" for r in topic.raw)


async def test_a_big_batch_with_one_bad_event_is_refused_whole(settings: Settings, intake) -> None:  # type: ignore[no-untyped-def]
    client, auth, _ = intake
    body = batch()
    body["events"][250]["reason"] = ""
    r = await client.post("/v1/events", json=body, headers={**auth, "Idempotency-Key": "wave-2"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "events", 250, "participant.deactivated", "reason"]]
    body["events"][250]["reason"] = "DESIL_ABOVE_5"  # corrected, same key: the refused body did not keep it
    assert (
        await client.post("/v1/events", json=body, headers={**auth, "Idempotency-Key": "wave-2"})
    ).status_code == 202
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        await topic.wait_for(lambda e: len(topic.events) >= N)
        await topic.poll()
    assert len(topic.raw) == N  # the refused batch published nothing


async def test_a_dead_worker_costs_the_batch_in_it_one_503_and_the_next_batch_gets_a_new_one(  # type: ignore[no-untyped-def]
    settings: Settings, intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, auth, app = intake
    assert (await client.post("/v1/events", json=batch(), headers=auth)).status_code == 202
    [pid] = app.state.bulk.pids()
    # Stopped, the worker can neither answer nor be seen dead: the next batch is handed to it, whatever the load
    # (killed at once instead, its death could be seen first, and that batch would go to a new worker).
    os.kill(pid, signal.SIGSTOP)
    handed = asyncio.Event()
    prepare = app.state.bulk.prepare

    async def handing(*args, **kwargs):  # type: ignore[no-untyped-def]
        handed.set()  # (prepare hands the body to the current worker before it first waits)
        return await prepare(*args, **kwargs)

    monkeypatch.setattr(app.state.bulk, "prepare", handing)
    posted = asyncio.create_task(client.post("/v1/events", json=batch(1000), headers=auth))
    await asyncio.wait_for(handed.wait(), 60)
    os.kill(pid, signal.SIGKILL)
    refused = await posted
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5", refused.text
    assert (await client.post("/v1/events", json=batch(1000), headers=auth)).status_code == 202
    [second] = app.state.bulk.pids()
    assert second != pid

    # Killed between batches: once its death is seen (pids() is empty then), the next batch gets a new worker.
    os.kill(second, signal.SIGKILL)
    await eventually(lambda: asyncio.sleep(0, not app.state.bulk.pids()), timeout=60)
    assert (await client.post("/v1/events", json=batch(2000), headers=auth)).status_code == 202
    assert app.state.bulk.pids() not in ([pid], [second])
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as topic:
        await topic.wait_for(lambda e: len(topic.events) >= 3 * N, timeout=60)
        await topic.poll()  # anything more would be the refused batch
    assert len(topic.raw) == len({str(e.event_id) for e in topic.events}) == 3 * N

"""Liveness: a consumer that has held one batch longer than shared.kafka.STALLED_AFTER_S fails /healthz, so that
Kubernetes restarts its process (make chaos, session 24: an emergency consumer stuck for good in its offset commit
while readiness stayed green). One that is busy within the limit, or done, is alive."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker

from shared import kafka
from shared.events import any_event_adapter
from shared.kafka import make_broker, stalled_consumers, subscribe
from shared.observability import health_router
from shared.runtime import consumers_alive
from shared.settings import Settings
from shared.topics import EMERGENCY_REQUESTS
from testkit.events import emergency


async def healthz(app: FastAPI) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get("/healthz")


async def test_a_consumer_holding_one_batch_too_long_fails_liveness_until_it_lets_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = make_broker(Settings(), "test")
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(events: list[Any]) -> None:
        started.set()
        await release.wait()

    subscribe(broker, EMERGENCY_REQUESTS, group="g", adapter=any_event_adapter, service="test")(handler)
    app = FastAPI()
    app.include_router(health_router({}, live={"consumers": consumers_alive(broker)}))
    event = emergency()
    async with TestKafkaBroker(broker) as test_broker:
        publishing = asyncio.create_task(
            test_broker.publish(event.model_dump_json().encode(), EMERGENCY_REQUESTS.name, key=event.kafka_key())
        )
        await asyncio.wait_for(started.wait(), 10)
        assert stalled_consumers(broker) == []  # busy, within the limit
        assert (await healthz(app)).status_code == 200

        monkeypatch.setattr(kafka, "STALLED_AFTER_S", 0.0)  # the same batch, held past the limit
        assert stalled_consumers(broker) == [f"{EMERGENCY_REQUESTS.name} (g)"]
        answer = await healthz(app)
        assert answer.status_code == 503
        assert answer.json()["checks"]["consumers"].endswith(f"{EMERGENCY_REQUESTS.name} (g)")

        release.set()
        await publishing
    assert stalled_consumers(broker) == []  # let go: alive again
    assert (await healthz(app)).status_code == 200


async def test_without_live_checks_healthz_says_ok() -> None:
    app = FastAPI()
    app.include_router(health_router({}))
    answer = await healthz(app)
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}

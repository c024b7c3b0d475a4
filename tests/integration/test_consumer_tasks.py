"""Liveness on real Kafka: a consumer whose aiokafka metadata task has died fails /healthz. That task died in
make chaos (session 24: a RuntimeError on a write to a closed connection, aio-libs/aiokafka#1038); the consumer
then polled on and read nothing, its rejoins and offset commits waiting for a metadata update that never came,
while readiness said ready. The same death here: the task's metadata request raises that error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.events import any_event_adapter
from shared.kafka import dead_consumers, make_broker, subscribe
from shared.observability import health_router
from shared.runtime import consumers_alive, consumers_check
from shared.settings import Settings
from shared.topics import EMERGENCY_REQUESTS
from testkit.polling import eventually

pytestmark = pytest.mark.integration


async def probe(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get(path)


async def test_a_consumer_whose_metadata_task_died_fails_liveness_while_readiness_stays_green(
    settings: Settings,
) -> None:
    broker = make_broker(settings, "test-consumer-tasks")
    group = f"{settings.topic_prefix}test-consumer-tasks"

    async def handler(events: list[Any]) -> None:
        pass

    subscribe(
        broker,
        EMERGENCY_REQUESTS,
        group=group,
        adapter=any_event_adapter,
        service="test",
        prefix=settings.topic_prefix,
        batch=True,
    )(handler)
    app = FastAPI()
    app.include_router(
        health_router({"consumers": consumers_check(broker)}, live={"consumers": consumers_alive(broker)})
    )
    await broker.start()
    try:
        (subscriber,) = broker.subscribers
        consumer: Any = subscriber.consumer  # type: ignore[attr-defined]

        async def assigned() -> bool:
            return bool(consumer.assignment())

        await eventually(assigned)
        assert dead_consumers(broker) == []
        assert (await probe(app, "/healthz")).status_code == 200

        async def closed_connection(*_: Any) -> None:
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")

        consumer._client._metadata_update = closed_connection
        consumer._client.force_metadata_update()  # the metadata task's next round raises, and it dies

        async def died() -> bool:
            return bool(dead_consumers(broker))

        await eventually(died)
        assert dead_consumers(broker) == [
            f"{settings.topic_prefix}{EMERGENCY_REQUESTS.name} ({group}: metadata task ended)"
        ]
        answer = await probe(app, "/healthz")
        assert answer.status_code == 503
        assert "metadata task ended" in answer.json()["checks"]["consumers"]
        assert (await probe(app, "/readyz")).status_code == 200  # the consumer still runs: readiness cannot see it
    finally:
        try:
            await broker.stop()
        except* RuntimeError:  # stopping awaits the dead task, which raises its error again
            pass

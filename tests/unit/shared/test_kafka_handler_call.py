"""A consumer's handler runs on the event loop, with no thread hop per message: the message reaches it as its
body (shared.kafka._the_message), not as a context field, which FastDepends resolved in a worker thread (a task
group and a thread hop per message or batch, about 0.1 ms of CPU each, and a wait for the GIL under load)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import anyio.to_thread
import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.message import KafkaMessage

from shared.events import any_event_adapter
from shared.kafka import _the_message, make_broker, subscribe
from shared.settings import Settings
from shared.topics import EMERGENCY_REQUESTS
from testkit.events import emergency


async def test_an_emergency_is_handled_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    hops: list[Any] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    broker = make_broker(Settings(), "test")
    handled: list[Any] = []

    async def handler(events: list[Any]) -> None:
        handled.extend(events)

    subscribe(broker, EMERGENCY_REQUESTS, group="g", adapter=any_event_adapter, service="test")(handler)
    event = emergency()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event.model_dump_json().encode(), EMERGENCY_REQUESTS.name, key=event.kafka_key())
    assert [e.event_id for e in handled] == [event.event_id]
    assert hops == []


async def test_a_decoded_message_is_freed_at_once_not_by_the_cyclic_collector() -> None:
    """FastStream caches a message's decoded body on the message: the message itself there made a cycle, and with
    the services' raised collection thresholds every batch's records lived on (bulk processes grew 50-120 MB)."""
    message = KafkaMessage(raw_message=(), body=b"", consumer=None)
    message.set_decoder(_the_message)
    assert (await message.decode()).raw_message == ()  # the handler reads the message through what decode gave
    gone = weakref.ref(message)
    gc.disable()
    try:
        del message
        assert gone() is None  # freed by reference counting: no cycle left for the collector
    finally:
        gc.enable()

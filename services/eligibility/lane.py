"""The emergency lane: its own topic, consumer group, broker, database pool and event loop, in a
thread of its own (shared.lane).

Deciding bulk requests and relaying their events is CPU work in the main event loop; an emergency
sharing that loop waits behind it at every await (seconds under a backlog of 100,000). In its own
loop it gets the interpreter every few milliseconds (the GIL switch interval) whatever the bulk
work does, and publishes its decision at once (the outbox row stays the guarantee).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from pydantic import TypeAdapter
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility.domain.policy import Policy
from services.eligibility.handlers import Clock, EligibilityHandlers
from services.eligibility.metrics import lag_loop
from services.eligibility.store import outbox
from shared.db import make_engine, make_sessions, transaction
from shared.events import ReactivationRequested
from shared.kafka import make_broker, subscribe
from shared.lane import Lane, LaneBody, call_in_loop
from shared.settings import EligibilitySettings
from shared.topics import EMERGENCY_REQUESTS

log = structlog.get_logger(__name__)
request_adapter: TypeAdapter[ReactivationRequested] = TypeAdapter(ReactivationRequested)


def fast_publisher(broker: KafkaBroker, sessions: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    cleanups: set[asyncio.Task[None]] = set()

    async def drop_from_outbox(event_ids: list[Any]) -> None:
        try:
            async with transaction(sessions) as session:
                await session.execute(delete(outbox).where(outbox.c.event_id.in_(event_ids)))
        except Exception as exc:  # noqa: BLE001 - the relay publishes them again; consumers de-duplicate
            log.warning("fast_publish_cleanup_failed", error=type(exc).__name__)

    async def publish_now(rows: list[dict[str, Any]]) -> None:
        """Publish committed outbox rows at once (all sent, then all acknowledged), then drop them
        in the background: the next emergency need not wait for that. On any failure they stay in
        the outbox for the relay (the same event ids either way; consumers de-duplicate)."""
        try:
            acks = [
                await broker.publish(
                    row["payload"], topic=row["topic"], key=row["key"], headers=row["headers"], no_confirm=True
                )
                for row in rows
            ]
            await asyncio.gather(*acks)
        except Exception as exc:  # noqa: BLE001 - the relay publishes them instead
            log.warning("fast_publish_failed", error=type(exc).__name__)
            return
        task = asyncio.create_task(drop_from_outbox([r["event_id"] for r in rows]))
        cleanups.add(task)
        task.add_done_callback(cleanups.discard)

    return publish_now


def subscribe_emergencies(
    broker: KafkaBroker, s: EligibilitySettings, on_emergency: Callable[[list[Any]], Awaitable[None]]
) -> None:
    subscribe(
        broker,
        EMERGENCY_REQUESTS,
        group=f"{s.topic_prefix}eligibility-emergency",
        adapter=request_adapter,
        service="eligibility",
        prefix=s.topic_prefix,
        # Whatever queued while one emergency was decided is taken together next time (one
        # transaction, one round of acks): at a burst of emergencies the lane keeps up.
        batch=True,
        max_records=100,
        urgent=True,
    )(on_emergency)


class EmergencyLane:
    """The emergency topic's consumer in a shared.lane.Lane: own broker, pool and event loop."""

    def __init__(
        self, settings: EligibilitySettings, policy: Policy, clock: Clock, wake_relay: Callable[[], None]
    ) -> None:
        self.settings, self.policy, self.clock, self.wake_relay = settings, policy, clock, wake_relay
        self._lane: Lane | None = None

    async def start(self) -> None:
        # The relay lives in the main loop: the lane wakes it there.
        wake = call_in_loop(asyncio.get_running_loop(), self.wake_relay)
        self._lane = Lane("eligibility-emergency", self._body(wake))
        await self._lane.start()

    async def stop(self) -> None:
        if self._lane is not None:
            await self._lane.stop()

    def described(self) -> KafkaBroker:
        """A broker (never started) with the lane's subscriber, for the AsyncAPI document."""
        broker = make_broker(self.settings, "eligibility-emergency")

        async def never_called(events: list[Any]) -> None:
            raise AssertionError("documentation only")

        subscribe_emergencies(broker, self.settings, never_called)
        return broker

    def _body(self, wake: Callable[[], None]) -> LaneBody:
        s = self.settings

        async def run(stop: asyncio.Event, ready: Callable[[], None]) -> None:
            engine = make_engine(s)
            broker = make_broker(s, "eligibility-emergency")
            sessions = make_sessions(engine)
            handlers = EligibilityHandlers(
                sessions, self.policy, self.clock, s.topic_prefix, wake, fast_publisher(broker, sessions)
            )
            subscribe_emergencies(broker, s, handlers.on_emergency)
            try:
                await broker.start()
                lag = asyncio.create_task(lag_loop(list(broker.subscribers)))
                ready()
                await stop.wait()
                lag.cancel()
                await asyncio.gather(lag, return_exceptions=True)
            finally:
                await broker.stop()
                await engine.dispose()

        return run

"""The emergency lane: its own topic, consumer group, broker, database pool and event loop, in a
thread of its own.

Deciding bulk requests and relaying their events is CPU work in the main event loop; an emergency
sharing that loop waits behind it at every await (seconds under a backlog of 100,000). In its own
loop it gets the interpreter every few milliseconds (the GIL switch interval) whatever the bulk
work does, and publishes its decision at once (the outbox row stays the guarantee).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
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
from shared.settings import EligibilitySettings
from shared.topics import EMERGENCY_REQUESTS

log = structlog.get_logger(__name__)
request_adapter: TypeAdapter[ReactivationRequested] = TypeAdapter(ReactivationRequested)


def fast_publisher(broker: KafkaBroker, sessions: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    async def publish_now(rows: list[dict[str, Any]]) -> None:
        """Publish committed outbox rows at once, then drop them. On any failure they stay in the
        outbox for the relay (the same event ids either way; consumers de-duplicate)."""
        try:
            for row in rows:
                await broker.publish(row["payload"], topic=row["topic"], key=row["key"], headers=row["headers"])
            async with transaction(sessions) as session:
                await session.execute(delete(outbox).where(outbox.c.event_id.in_([r["event_id"] for r in rows])))
        except Exception as exc:  # noqa: BLE001 - the relay publishes them instead
            log.warning("fast_publish_failed", error=type(exc).__name__)

    return publish_now


class EmergencyLane:
    def __init__(
        self, settings: EligibilitySettings, policy: Policy, clock: Clock, wake_relay: Callable[[], None]
    ) -> None:
        self.settings, self.policy, self.clock, self.wake_relay = settings, policy, clock, wake_relay
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None

    async def start(self) -> None:
        main = asyncio.get_running_loop()
        wake = lambda: main.call_soon_threadsafe(self.wake_relay)  # noqa: E731 - the relay lives in the main loop
        self._thread = threading.Thread(target=self._run, args=(wake,), name="eligibility-emergency", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._started.wait)
        if self.error is not None:
            raise self.error

    async def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)

    def _run(self, wake: Callable[[], None]) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main(wake))
        except BaseException as exc:  # noqa: BLE001 - reported to start() or logged
            self.error = exc
            log.error("emergency_lane_failed", error=type(exc).__name__)
        finally:
            self._started.set()
            self._loop.close()

    async def _main(self, wake: Callable[[], None]) -> None:
        s = self.settings
        self._stop = asyncio.Event()
        engine = make_engine(s)
        broker = make_broker(s, "eligibility-emergency")
        sessions = make_sessions(engine)
        handlers = EligibilityHandlers(
            sessions, self.policy, self.clock, s.topic_prefix, wake, fast_publisher(broker, sessions)
        )
        subscribe(
            broker,
            EMERGENCY_REQUESTS,
            group=f"{s.topic_prefix}eligibility-emergency",
            adapter=request_adapter,
            service="eligibility",
            prefix=s.topic_prefix,
            batch=False,
        )(handlers.on_emergency)
        try:
            await broker.start()
            lag = asyncio.create_task(lag_loop(list(broker.subscribers)))
            self._started.set()
            await self._stop.wait()
            lag.cancel()
            await asyncio.gather(lag, return_exceptions=True)
        finally:
            await broker.stop()
            await engine.dispose()

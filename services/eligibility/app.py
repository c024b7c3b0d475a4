"""Wiring of the eligibility service: settings, database, broker, subscribers, outbox relay, timers,
and the HTTP surface (health and metrics only) on port 8083."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy import delete

from services.eligibility.domain.policy import Policy, policy_from_json
from services.eligibility.handlers import Clock, EligibilityHandlers
from services.eligibility.metrics import lag_loop
from services.eligibility.store import MIGRATIONS, SCHEMA, outbox
from services.eligibility.timers import TimerLoop
from shared.db import make_engine, make_sessions, migrate, ping, transaction
from shared.events import ReactivationRequested, participant_event_adapter
from shared.kafka import broker_check, ensure_topics, make_broker, subscribe
from shared.observability import configure_logging, health_router
from shared.outbox import OutboxRelay
from shared.settings import EligibilitySettings
from shared.topics import EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS

log = structlog.get_logger(__name__)
POLICY_FILE = Path(__file__).parent / "policy" / "v1.json"
request_adapter: TypeAdapter[ReactivationRequested] = TypeAdapter(ReactivationRequested)


def load_settings() -> EligibilitySettings:
    return EligibilitySettings()


def load_policy(path: Path = POLICY_FILE) -> Policy:
    return policy_from_json(path.read_text())


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    settings: EligibilitySettings | None = None, clock: Clock = utc_now, timer_interval_s: float = 1.0
) -> FastAPI:
    settings = settings or load_settings()
    configure_logging("eligibility", settings.log_level, settings.log_json)
    engine = make_engine(settings)
    broker = make_broker(settings, "eligibility")
    relay = OutboxRelay(engine, outbox, broker)
    sessions = make_sessions(engine)

    async def publish_now(rows: list[dict[str, Any]]) -> None:
        """The emergency fast path: publish committed outbox rows at once, then drop them. On any
        failure they simply stay in the outbox for the relay (same event ids either way)."""
        try:
            for row in rows:
                await broker.publish(row["payload"], topic=row["topic"], key=row["key"], headers=row["headers"])
            async with transaction(sessions) as session:
                await session.execute(delete(outbox).where(outbox.c.event_id.in_([r["event_id"] for r in rows])))
        except Exception as exc:  # noqa: BLE001 - the relay publishes them instead
            log.warning("fast_publish_failed", error=type(exc).__name__)

    handlers = EligibilityHandlers(sessions, load_policy(), clock, settings.topic_prefix, relay.wake, publish_now)
    timers = TimerLoop(handlers, clock, timer_interval_s)
    group = f"{settings.topic_prefix}eligibility"
    common = {"adapter": None, "service": "eligibility", "prefix": settings.topic_prefix}

    subscribe(
        broker,
        PARTICIPANT_EVENTS,
        group=f"{group}-facts",
        batch=True,
        max_records=1000,
        **{**common, "adapter": participant_event_adapter},
    )(handlers.on_participant_events)
    subscribe(
        broker,
        REACTIVATION_REQUESTS,
        group=f"{group}-requests",
        batch=True,
        max_records=500,
        **{**common, "adapter": request_adapter},
    )(handlers.on_requests)
    # The emergency lane: its own topic, consumer and group, one record at a time, never behind bulk work.
    subscribe(
        broker, EMERGENCY_REQUESTS, group=f"{group}-emergency", batch=False, **{**common, "adapter": request_adapter}
    )(handlers.on_emergency)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(engine, MIGRATIONS, SCHEMA)
        await ensure_topics(settings)
        await broker.start()
        relay.start()
        timers.start()
        lag = asyncio.create_task(lag_loop(list(broker.subscribers)), name="eligibility-lag")
        try:
            yield
        finally:
            lag.cancel()
            await asyncio.gather(lag, return_exceptions=True)
            await timers.stop()
            await relay.stop()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(title="pbi-reactivation eligibility", lifespan=lifespan)
    app.include_router(health_router({"kafka": broker_check(broker), "database": lambda: ping(engine)}))
    app.state.handlers, app.state.timers, app.state.relay, app.state.broker = handlers, timers, relay, broker
    return app

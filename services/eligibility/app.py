"""Wiring of the eligibility service: settings, database, broker, subscribers, outbox relay, timers,
and the HTTP surface (health and metrics only) on port 8083."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI
from pydantic import TypeAdapter

from services.eligibility.domain.policy import Policy, policy_from_json
from services.eligibility.handlers import Clock, EligibilityHandlers
from services.eligibility.lane import EmergencyLane
from services.eligibility.metrics import lag_loop
from services.eligibility.privacy import PRIVACY_EVENTS, PrivacyHandlers, erasure_adapter
from services.eligibility.store import MIGRATIONS, SCHEMA, outbox
from services.eligibility.timers import TimerLoop
from shared import topics, tracing
from shared.asyncapi import declare_publishers
from shared.db import make_engine, make_sessions, migrate, ping
from shared.events import ReactivationRequested, appeal_input_adapter, participant_event_adapter
from shared.kafka import broker_check, ensure_topics, make_broker, subscribe
from shared.kafka_security import kafka_client_options
from shared.observability import configure_logging, health_router, instrument
from shared.outbox import OutboxRelay
from shared.runtime import tune_for_latency
from shared.settings import EligibilitySettings
from shared.topics import APPEALS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS

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
    # Per-message "Received/Processed" lines at DEBUG: at thousands of records a second they are noise.
    broker = make_broker(settings, "eligibility")
    # Smaller relay batches: publishing is CPU work in this event loop, shared with the emergency lane.
    relay = OutboxRelay(
        engine, outbox, settings.kafka_bootstrap_servers, batch_size=200, client_options=kafka_client_options(settings)
    )
    sessions = make_sessions(engine)

    policy = load_policy()
    handlers = EligibilityHandlers(sessions, policy, clock, settings.topic_prefix, relay.wake)
    lane = EmergencyLane(settings, policy, clock, relay.wake)
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
    subscribe(  # erasures announced by the registry (UU PDP): services/eligibility/privacy.py
        broker,
        PRIVACY_EVENTS,
        group=f"{group}-privacy",
        batch=True,
        max_records=100,
        **{**common, "adapter": erasure_adapter},
    )(PrivacyHandlers(sessions).on_erasures)
    subscribe(
        broker,
        APPEALS,
        group=f"{group}-appeals",
        batch=True,
        max_records=100,
        **{**common, "adapter": appeal_input_adapter},
    )(handlers.on_appeals)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(engine, MIGRATIONS, SCHEMA)
        await ensure_topics(settings)
        tune_for_latency()
        await broker.start()
        await lane.start()
        relay.start()
        timers.start()
        lag = asyncio.create_task(lag_loop(list(broker.subscribers)), name="eligibility-lag")
        try:
            yield
        finally:
            tracing.shutdown()
            lag.cancel()
            await asyncio.gather(lag, return_exceptions=True)
            await timers.stop()
            await lane.stop()
            await relay.stop()
            await broker.stop()
            await engine.dispose()

    # What its outbox relay writes, for the AsyncAPI document (shared.asyncapi).
    declare_publishers(broker, "eligibility", (topics.DECISIONS, topics.TIMER_EVENTS), settings.topic_prefix)
    app_brokers = [broker, lane.described()]  # the emergency lane's broker is built in its own thread
    app = FastAPI(title="pbi-reactivation eligibility", lifespan=lifespan)
    instrument(app, "eligibility")
    app.include_router(health_router({"kafka": broker_check(broker), "database": lambda: ping(engine)}))
    app.state.handlers, app.state.timers, app.state.relay, app.state.broker = handlers, timers, relay, broker
    app.state.emergency_lane = lane
    app.state.asyncapi_brokers = app_brokers
    return app

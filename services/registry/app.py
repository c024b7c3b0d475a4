"""Wiring of the registry: database, broker and batch consumers, outbox relay, HTTP API and dashboard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.registry.api import router
from services.registry.dashboard.kafka_health import KafkaHealth
from services.registry.dashboard.live import LiveSnapshot
from services.registry.dashboard.routes import mount_dashboard
from services.registry.handlers import RegistryHandlers
from services.registry.privacy_api import install as install_privacy
from services.registry.store import MIGRATIONS, SCHEMA, outbox
from services.registry.sweep import Clock, WindowSweep, utc_now
from services.registry.worklist_api import router as worklist_router
from shared import topics, tracing
from shared.asyncapi import declare_publishers
from shared.auth import ApiKeyStore
from shared.db import make_engine, make_sessions, migrate, ping
from shared.events import any_event_adapter
from shared.http_guard import FrontDoor, SecurityHeaders
from shared.kafka import broker_check, ensure_topics, make_broker, subscribe
from shared.kafka_security import kafka_client_options
from shared.lane import Lane, LaneBody, call_in_loop
from shared.observability import configure_logging, health_router, instrument
from shared.outbox import OutboxRelay
from shared.problems import install_problem_details
from shared.runtime import tune_for_latency
from shared.settings import RegistrySettings
from shared.topics import (
    DECISIONS,
    EMERGENCY_REQUESTS,
    NOTIFICATION_EVENTS,
    PARTICIPANT_EVENTS,
    REACTIVATION_REQUESTS,
    TIMER_EVENTS,
    TopicSpec,
)

# Bulk topics: a wave's facts, bulk requests, notification updates, in big batches in the main loop.
BULK = (PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, NOTIFICATION_EVENTS)
# What a patient waits for (decisions, emergency requests, SLA states): few records, handled in a lane
# of their own so that a wave's batches never hold them up (an emergency ACTIVE within a second).
URGENT = (DECISIONS, EMERGENCY_REQUESTS, TIMER_EVENTS)
MIRRORED = BULK + URGENT

PARTICIPANT_CONSUMERS = 2


def load_settings() -> RegistrySettings:
    return RegistrySettings()


def subscribe_mirrors(
    broker: KafkaBroker, handlers: RegistryHandlers, settings: RegistrySettings, specs: tuple[TopicSpec, ...]
) -> None:
    for spec in specs:
        # The wave topic gets PARTICIPANT_CONSUMERS consumers in one group (partitions split between
        # them): one decodes the next batch while another's batch is being written by PostgreSQL.
        for _ in range(PARTICIPANT_CONSUMERS if spec is PARTICIPANT_EVENTS else 1):
            subscribe(
                broker,
                spec,
                group=f"{settings.topic_prefix}registry-{spec.name}",
                adapter=any_event_adapter,
                service="registry",
                prefix=settings.topic_prefix,
                batch=True,
                max_records=4000 if spec is PARTICIPANT_EVENTS else 2000,
                max_partition_fetch_bytes=4 * 1024 * 1024,
                urgent=spec in URGENT,
            )(handlers.on_events)


def urgent_lane(settings: RegistrySettings, wake_relay: Callable[[], None], clock: Clock = utc_now) -> LaneBody:
    async def run(stop: asyncio.Event, ready: Callable[[], None]) -> None:
        engine = make_engine(settings)
        broker = make_broker(settings, "registry-urgent")
        handlers = RegistryHandlers(make_sessions(engine), settings.topic_prefix, wake_relay, clock)
        subscribe_mirrors(broker, handlers, settings, URGENT)
        try:
            await broker.start()
            ready()
            await stop.wait()
        finally:
            await broker.stop()
            await engine.dispose()

    return run


def create_app(settings: RegistrySettings | None = None, clock: Clock = utc_now) -> FastAPI:
    """`clock`: the time window closes are judged by, in the sweep and the consumers (tests pass their own)."""
    settings = settings or load_settings()
    configure_logging("registry", settings.log_level, settings.log_json)
    engine = make_engine(settings)
    broker = make_broker(settings, "registry")
    relay = OutboxRelay(engine, outbox, settings.kafka_bootstrap_servers, client_options=kafka_client_options(settings))
    handlers = RegistryHandlers(make_sessions(engine), settings.topic_prefix, relay.wake, clock)
    subscribe_mirrors(broker, handlers, settings, BULK)
    sweep = WindowSweep(
        make_sessions(engine), settings.topic_prefix, relay.wake, clock, interval_s=settings.window_sweep_interval_s
    )
    kafka_health = KafkaHealth(
        settings.kafka_bootstrap_servers, settings.topic_prefix, client_options=kafka_client_options(settings)
    )

    lanes: list[Lane] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:  # whatever step fails, what was started is stopped and the pool closed
            await migrate(engine, MIGRATIONS, SCHEMA)
            await app.state.api_keys.migrate()
            await ensure_topics(settings)
            await broker.start()
            relay.start()
            lane = Lane(
                "registry-urgent", urgent_lane(settings, call_in_loop(asyncio.get_running_loop(), relay.wake), clock)
            )
            await lane.start()
            lanes.append(lane)
            sweep.start()
            tune_for_latency()
            yield
        finally:
            await sweep.stop()
            tracing.shutdown()
            for lane in lanes:
                await lane.stop()
            await relay.stop()
            await broker.stop()
            await engine.dispose()

    snapshot = LiveSnapshot(engine, kafka_health, clock=clock)  # counts, boards, worklist, charts over time

    app = FastAPI(title="pbi-reactivation registry", lifespan=lifespan)
    app.state.engine = engine
    # What its outbox relay writes, for the AsyncAPI document (shared.asyncapi).
    declare_publishers(broker, "registry", (topics.STATUS_CHANGES, topics.PRIVACY_EVENTS), settings.topic_prefix)
    app.state.broker = broker
    # The urgent lane builds its broker in its own thread: the same subscriptions on one never started.
    described_lane = make_broker(settings, "registry-urgent")
    subscribe_mirrors(described_lane, handlers, settings, URGENT)
    app.state.asyncapi_brokers = [broker, described_lane]
    app.state.window_sweep = sweep
    app.state.clock = clock  # what "overdue" is judged by (tests move it)
    app.state.api_keys = ApiKeyStore(engine, settings.api_key_pepper.get_secret_value())
    # The key before anything else, every body within 64 KiB (CONTRACT.md); inside the request context.
    app.add_middleware(
        FrontDoor,
        authenticate=app.state.api_keys.authenticate,
        protected=("/v1/", "/dashboard/snapshot", "/dashboard/events", "/dashboard/me"),
        failures_per_minute=settings.auth_failures_per_minute,
    )
    app.add_middleware(SecurityHeaders)  # the dashboard's CSP, no framing, no referrer (outside the guard)
    install_problem_details(app)  # every error as RFC 9457 problem details, documented on every route
    instrument(app, "registry")
    app.include_router(router)
    install_privacy(app, engine, settings.topic_prefix, relay.wake)  # erasure, access log (UU PDP)
    app.include_router(worklist_router)
    app.include_router(health_router({"kafka": broker_check(broker), "database": lambda: ping(engine)}))
    mount_dashboard(app, snapshot)
    return app

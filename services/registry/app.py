"""Wiring of the registry: database, broker and batch consumers, outbox relay, HTTP API and dashboard.

A process runs one role's share (shared.settings.Role): urgent = what moves an emergency to ACTIVE
(decisions, emergency requests, SLA events) and the HTTP API and dashboard on 8081; bulk = a wave's
facts, regular requests, notification updates, the window-close sweep and the outbox relay, with health
and metrics only (8181). The relay is the bulk role's: a wave's status changes are nearly all it
publishes, and while the urgent process held its advisory lock, that process spent more CPU on the
wave than on emergencies. The urgent role's few status changes wait for the relay's next poll
(RELAY_POLL_S); the ACTIVE row an emergency waits for is committed by the urgent process itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry import privacy
from services.registry.api import router
from services.registry.dashboard.kafka_health import KafkaHealth
from services.registry.dashboard.live import LiveSnapshot
from services.registry.dashboard.routes import mount_dashboard
from services.registry.handlers import RegistryHandlers
from services.registry.privacy_api import install as install_privacy
from services.registry.store import MIGRATIONS, SCHEMA, outbox
from services.registry.sweep import Clock, WindowSweep, utc_now
from services.registry.uow import PgUnitOfWork
from services.registry.worklist_api import router as worklist_router
from shared import tracing
from shared.asyncapi import declare_publishers
from shared.auth import ApiKeyStore
from shared.db import make_engine, make_sessions, migrate, ping
from shared.emergency_lane import handler_for
from shared.events import any_event_adapter
from shared.http_guard import FrontDoor, SecurityHeaders
from shared.kafka import broker_check, ensure_topics, make_broker, subscribe
from shared.kafka_security import kafka_client_options
from shared.observability import configure_logging, health_router, instrument
from shared.outbox import OutboxRelay
from shared.problems import install_problem_details
from shared.runtime import consumers_alive, consumers_check, tune_for_latency
from shared.settings import RegistrySettings, Role
from shared.topics import (
    DECISIONS,
    EMERGENCY_DECISIONS,
    EMERGENCY_REQUESTS,
    NOTIFICATION_EVENTS,
    PARTICIPANT_EVENTS,
    REACTIVATION_REQUESTS,
    TIMER_EVENTS,
    TopicSpec,
)

# What a patient waits for (an emergency's decisions, emergency requests, SLA states): few records, small
# batches, in a process that a wave's batches never hold up (an emergency ACTIVE within a second).
URGENT = (EMERGENCY_DECISIONS, EMERGENCY_REQUESTS, TIMER_EVENTS)
# A wave's facts, regular requests, every decision, notification updates: big batches, lower priority.
# DECISIONS carries the emergencies' decisions too; a bulk-only process leaves those to the urgent process,
# which reads their copy on EMERGENCY_DECISIONS (shared.emergency_lane: applied by both, the bulk process held
# the person's row while the emergency waited; an `all` process applies whichever copy comes first). A
# decision is de-duplicated by its effect all the same (a history row, an anomaly or the inbox per event id:
# uow.unseen, read under the person's row lock; a person new to two batches is inserted by one, the other
# meets ConcurrentBatch and is applied again on the committed row), and a status change is announced only
# with a new history row.
BULK = (PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, DECISIONS, NOTIFICATION_EVENTS)
# Mirrors nobody waits on at once, whose records come a few a second between waves: fetched gathered (shared.kafka
# GATHER_BYTES, up to half a second), a transaction per half second instead of one per delivery state. Not the
# wave's topic: its last records would wait too.
GATHERED = (REACTIVATION_REQUESTS, DECISIONS, NOTIFICATION_EVENTS)
MIRRORED = BULK + URGENT  # not the window reminders' topic: they change nothing here (domain.batch.IGNORED)

PARTICIPANT_CONSUMERS = 2
RELAY_POLL_S = 0.2  # the relay's look at the outbox when nothing of its own process woke it


def load_settings() -> RegistrySettings:
    return RegistrySettings()


def consumers(role: Role) -> tuple[TopicSpec, ...]:
    """The topics a process of `role` mirrors (consumer group `<prefix>registry-<topic>` each)."""
    return (URGENT if role.runs_urgent else ()) + (BULK if role.runs_bulk else ())


def relays(role: Role) -> bool:
    """Whether a process of `role` runs the outbox relay: the bulk one (and `all`), never urgent only."""
    return role.runs_bulk


def consumers_per_process(spec: TopicSpec) -> int:
    """Consumers of `spec`'s group in one process (also what deploy's replica bound counts). The wave topic gets
    PARTICIPANT_CONSUMERS (partitions split between them): one decodes the next batch while another's batch is
    being written by PostgreSQL."""
    return PARTICIPANT_CONSUMERS if spec is PARTICIPANT_EVENTS else 1


def subscribe_mirrors(broker: KafkaBroker, handlers: RegistryHandlers, settings: RegistrySettings, role: Role) -> None:
    for spec in consumers(role):
        for _ in range(consumers_per_process(spec)):
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
                gather=spec in GATHERED,
            )(handler_for(role, spec, handlers.on_events))


def create_app(settings: RegistrySettings | None = None, clock: Clock = utc_now, role: Role = Role.ALL) -> FastAPI:
    """`clock`: the time window closes are judged by, in the sweep and the consumers (tests pass their own)."""
    settings = settings or load_settings()
    configure_logging("registry", settings.log_level, settings.log_json)
    engine = make_engine(settings)
    broker = make_broker(settings, "registry" if role is Role.ALL else f"registry-{role.value}")
    relay = OutboxRelay(
        engine,
        outbox,
        settings.kafka_bootstrap_servers,
        poll_interval_s=RELAY_POLL_S,
        client_options=kafka_client_options(settings),
    )
    handlers = RegistryHandlers(make_sessions(engine), settings.topic_prefix, relay.wake, clock)
    subscribe_mirrors(broker, handlers, settings, role)
    sweep = WindowSweep(
        make_sessions(engine), settings.topic_prefix, relay.wake, clock, interval_s=settings.window_sweep_interval_s
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:  # whatever step fails, what was started is stopped and the pool closed
            await migrate(engine, MIGRATIONS, SCHEMA)
            if role.runs_urgent:
                await app.state.api_keys.migrate()
            await ensure_topics(settings)
            await broker.start()
            if relays(role):
                relay.start()
            if role.runs_bulk:
                sweep.start()
            tune_for_latency()
            yield
        finally:
            await sweep.stop()
            tracing.shutdown()
            await relay.stop()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(title="pbi-reactivation registry", lifespan=lifespan)
    app.state.engine, app.state.role, app.state.relay = engine, role, relay
    # What its outbox relay writes (a batch's status changes, an erasure's announcement), for the AsyncAPI document.
    declare_publishers(broker, "registry", (*PgUnitOfWork.topics, *privacy.TOPICS), settings.topic_prefix)
    app.state.broker = broker
    app.state.window_sweep = sweep
    app.state.clock = clock  # what "overdue" is judged by (tests move it)
    checks = {"kafka": broker_check(broker), "consumers": consumers_check(broker), "database": lambda: ping(engine)}
    health = health_router(checks, live={"consumers": consumers_alive(broker)})
    if role.runs_urgent:
        install_public_http(app, engine, settings, relay, clock, health)
    else:
        instrument(app, "registry")
        app.include_router(health)
    return app


def install_public_http(
    app: FastAPI, engine: AsyncEngine, settings: RegistrySettings, relay: OutboxRelay, clock: Clock, health: APIRouter
) -> None:
    """The API, the erasure routes, the worklist and the dashboard (the urgent or all process, 8081)."""
    kafka_health = KafkaHealth(
        settings.kafka_bootstrap_servers, settings.topic_prefix, client_options=kafka_client_options(settings)
    )
    snapshot = LiveSnapshot(engine, kafka_health, clock=clock)  # counts, boards, worklist, charts over time
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
    app.include_router(health)
    mount_dashboard(app, snapshot)

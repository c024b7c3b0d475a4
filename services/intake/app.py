"""Wiring of intake: API keys, facilities and idempotency in PostgreSQL, Kafka publisher, the read-model
consumer, HTTP on port 8080 (OpenAPI at /docs).

A process runs one role's share (shared.settings.Role): urgent = the contract's HTTP API on 8080, whose
big batches are validated in a worker process it owns (bulk.py); bulk = the read-model consumer
(decisions and SLA states, what GET answers), with health and metrics only (8180)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.api import router
from services.intake.appeals import router as appeals_router
from services.intake.asyncapi import add_asyncapi_routes
from services.intake.bulk import BulkWorker
from services.intake.events_openapi import event_schemas
from services.intake.handlers import ReadModel
from services.intake.publisher import Publisher
from services.intake.store import MIGRATIONS, SCHEMA
from shared import tracing
from shared.asyncapi import declare_publishers
from shared.auth import ApiKeyStore
from shared.db import make_engine, make_sessions, migrate, ping
from shared.events import any_event_adapter
from shared.http_guard import FrontDoor, MiB
from shared.kafka import ensure_topics, make_broker, subscribe
from shared.observability import configure_logging, health_router, instrument
from shared.problems import install_problem_details
from shared.runtime import consumers_alive, consumers_check, stop_if_cancelled, tune_for_latency
from shared.settings import IntakeSettings, Role
from shared.topics import (
    DECISIONS,
    TIMER_EVENTS,
    TopicSpec,
)
from shared.tx_lease import TransactionalIdLease

log = logging.getLogger("intake")


# The read model's topics are bulk work: a wave's decisions pass through them. The urgent role has none.
# Not the window reminders' topic: a reminder is nothing to a request's status (domain.read_model.changes).
BULK = (DECISIONS, TIMER_EVENTS)


def load_settings() -> IntakeSettings:
    return IntakeSettings()


def consumers(role: Role) -> tuple[TopicSpec, ...]:
    """The topics a process of `role` reads (consumer group `<prefix>intake-<topic>` each)."""
    return BULK if role.runs_bulk else ()


async def keep_trying(attempt: Callable[[], Awaitable[bool]], first_delay_s: float) -> None:
    """`attempt` after `first_delay_s`, then after 1, 2, 4... up to 30 s, until it returns True. Stops when its
    task is cancelled, even when the attempt swallowed the cancellation (its Kafka client's bootstrap can)."""
    delay = first_delay_s
    while True:
        await asyncio.sleep(delay)
        if await attempt():
            return
        stop_if_cancelled()
        delay = min(max(delay * 2, 1.0), 30.0)


def create_app(settings: IntakeSettings | None = None, role: Role = Role.ALL) -> FastAPI:
    settings = settings or load_settings()
    configure_logging("intake", settings.log_level, settings.log_json)
    engine = make_engine(settings)
    sessions = make_sessions(engine)
    # The HTTP process's transactional ids are leased (shared.tx_lease): its successor after a crash takes them
    # over and aborts at once what it left open. The bulk process publishes nothing.
    lease = TransactionalIdLease(engine, f"{settings.topic_prefix}intake") if role.runs_urgent else None
    publisher = Publisher(settings, lease)
    broker = make_broker(settings, "intake" if role is Role.ALL else f"intake-{role.value}")
    read_model = ReadModel(sessions)
    for spec in consumers(role):
        subscribe(
            broker,
            spec,
            group=f"{settings.topic_prefix}intake-{spec.name}",
            adapter=any_event_adapter,
            service="intake",
            prefix=settings.topic_prefix,
            batch=True,
            max_records=1000,
            gather=True,  # the read model: a hospital's GET may see a decision half a second later (shared.kafka)
        )(read_model.on_events)

    async def start_broker() -> bool:
        try:
            await ensure_topics(settings)
            await broker.start()
        except Exception as exc:  # noqa: BLE001 - serve 503s (readyz says why) and keep trying
            log.warning("kafka consumer not started (%s); retrying", type(exc).__name__)
            try:
                await broker.stop()
            except Exception:  # noqa: BLE001 - half-started
                pass
            return False
        return True

    async def keep_starting(app: FastAPI) -> None:
        async def attempt() -> bool:
            app.state.broker_started = await start_broker()
            return bool(app.state.broker_started)

        await keep_trying(attempt, first_delay_s=1.0)

    async def take_over_transactions() -> None:
        """What a crashed predecessor left open under this process's ids is aborted as soon as Kafka and the
        database answer, not on the first batch (read_committed readers of those partitions wait until then)."""

        async def attempt() -> bool:
            try:
                await publisher.start_transactions()
                await app.state.bulk.take_over()
            except Exception as exc:  # noqa: BLE001 - Kafka or the database not there yet: the first batch retries
                log.warning("transactional ids not taken over yet (%s); retrying", type(exc).__name__)
                return False
            return True

        await keep_trying(attempt, first_delay_s=0.0)

    async def consumer_running() -> None:
        if not app.state.broker_started:
            raise ConnectionError("the read-model consumer is not connected to Kafka")
        if role.runs_urgent:
            await publisher.ping()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(engine, MIGRATIONS, SCHEMA)
        if role.runs_urgent:
            await app.state.api_keys.migrate()
        app.state.broker_started = await start_broker()
        retry = None if app.state.broker_started else asyncio.create_task(keep_starting(app))
        taking_over = asyncio.create_task(take_over_transactions()) if lease is not None else None
        try:
            tune_for_latency()
            yield
        finally:
            tracing.shutdown()
            for task in (retry, taking_over):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if app.state.broker_started:
                await broker.stop()
            await publisher.stop()
            app.state.bulk.stop()
            if lease is not None:
                await lease.release()
            await engine.dispose()

    app = FastAPI(
        title="pbi-reactivation intake",
        version="1",
        lifespan=lifespan,
        description="Front door for government systems, hospitals and operators (CONTRACT.md).",
    )
    app.state.sessions, app.state.publisher, app.state.role, app.state.lease = sessions, publisher, role, lease
    # What the Publisher (and the bulk worker, at its address) writes: the AsyncAPI document (shared.asyncapi).
    declare_publishers(broker, "intake", publisher.topics, settings.topic_prefix)
    app.state.broker = broker
    app.state.bulk = BulkWorker(settings, lease)
    if role.runs_urgent:
        install_public_http(app, settings, engine, broker)
    else:
        instrument(app, "intake")
    checks = {"kafka": consumer_running, "consumers": consumers_check(broker), "database": lambda: ping(engine)}
    app.include_router(health_router(checks, live={"consumers": consumers_alive(broker)}))
    return app


def install_public_http(app: FastAPI, settings: IntakeSettings, engine: AsyncEngine, broker: KafkaBroker) -> None:
    """The contract's API (the urgent or all process, 8080)."""
    app.state.api_keys = ApiKeyStore(engine, settings.api_key_pepper.get_secret_value())
    # Every error as problem details (422: each bad field, with the event's index in a batch, never the input).
    install_problem_details(app, components=event_schemas)
    # The key and the size before the body (CONTRACT.md); inside the request context (ids, metrics).
    app.add_middleware(
        FrontDoor,
        authenticate=app.state.api_keys.authenticate,
        protected=("/v1/",),
        body_limits={("POST", "/v1/events"): 16 * MiB},
        failures_per_minute=settings.auth_failures_per_minute,
    )
    instrument(app, "intake")
    app.include_router(router)
    app.include_router(appeals_router)
    add_asyncapi_routes(app, broker)

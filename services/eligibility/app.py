"""Wiring of the eligibility service: settings, database, broker, subscribers, outbox relay, timers,
and the HTTP surface (health and metrics only) on port 8083 (8183 for a bulk process).

A process runs one role's share (shared.settings.Role): urgent = emergency requests, their decisions
published at once, and the request timers (SLA warning and breach, grace recheck); bulk = facts,
regular requests, appeals, erasures, the window-expiry and reminder sweeps and the outbox relay (an
urgent-only process's relay stands by for when no bulk process holds it)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from fastapi import FastAPI
from pydantic import TypeAdapter

from services.eligibility.domain.policy import Policy, policy_from_json
from services.eligibility.domain.records import WRITES
from services.eligibility.handlers import Clock, EligibilityHandlers
from services.eligibility.metrics import lag_loop
from services.eligibility.privacy import PrivacyHandlers, erasure_adapter
from services.eligibility.store import MIGRATIONS, SCHEMA, outbox
from services.eligibility.timers import TimerLoop
from shared import tracing
from shared.asyncapi import declare_publishers
from shared.db import make_engine, make_sessions, migrate, ping
from shared.events import ReactivationRequested, appeal_input_adapter, participant_event_adapter
from shared.kafka import broker_check, ensure_topics, make_broker, subscribe
from shared.kafka_security import kafka_client_options
from shared.observability import configure_logging, health_router, instrument
from shared.outbox import OutboxRelay
from shared.runtime import consumers_alive, consumers_check, tune_for_latency
from shared.settings import EligibilitySettings, Role
from shared.topics import (
    APPEALS,
    EMERGENCY_REQUESTS,
    PARTICIPANT_EVENTS,
    PRIVACY_EVENTS,
    REACTIVATION_REQUESTS,
    TopicSpec,
)

log = structlog.get_logger(__name__)
POLICY_FILE = Path(__file__).parent / "policy" / "v1.json"
request_adapter: TypeAdapter[ReactivationRequested] = TypeAdapter(ReactivationRequested)


def load_settings() -> EligibilitySettings:
    return EligibilitySettings()


def load_policy(path: Path = POLICY_FILE) -> Policy:
    return policy_from_json(path.read_text())


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Consumer(NamedTuple):
    spec: TopicSpec
    group: str  # after "<prefix>eligibility-"
    max_records: int
    count: int = 1  # consumers of the group in one process: while one batch waits for PostgreSQL, another is decided


URGENT = (Consumer(EMERGENCY_REQUESTS, "emergency", 100),)
BULK = (
    Consumer(PARTICIPANT_EVENTS, "facts", 1000),
    # Two consumers of 1,000 (partitions split between them, one NIK's requests on one): a batch's transaction
    # was dead time in which the decider sat idle 40% of a decision stage; decisions on the topic went from
    # 1.5-1.6x to 1.7-2.0x the CPU-bound ceiling (docs/performance.md, Session 15; a third consumer: no more).
    Consumer(REACTIVATION_REQUESTS, "requests", 1000, count=2),
    Consumer(PRIVACY_EVENTS, "privacy", 100),  # erasures announced by the registry (UU PDP): privacy.py
    Consumer(APPEALS, "appeals", 100),
)


# The outbox relay is bulk work (a wave's decisions, re-decisions, reminders) and one process of the service
# holds it (an advisory lock). An urgent-only process, started first by make up and the bench, took it and
# relayed the bulk decisions at normal priority; it publishes its own emergencies itself (publish_committed),
# so its relay now stands by: it first asks for the lock this long after starting, and relays only when no
# bulk process holds it (none running, or one that died).
RELAY_STANDBY_S = 30.0


def consumers(role: Role) -> tuple[Consumer, ...]:
    """What a process of `role` reads."""
    return (URGENT if role.runs_urgent else ()) + (BULK if role.runs_bulk else ())


def consumers_per_process(spec: TopicSpec) -> int:
    """Consumers of `spec`'s group in one process (its entry's `count`; also what deploy's replica bound counts)."""
    return next((c.count for c in URGENT + BULK if c.spec is spec), 1)


class RoleTimers(TimerLoop):
    """The timer loop doing its role's share: the request timers (SLA warning and breach, grace
    recheck: a few rows) are urgent work; the window-expiry and reminder sweeps (a wave's worth at a
    window's close) are bulk work."""

    def __init__(self, role: Role, handlers: EligibilityHandlers, clock: Clock, interval_s: float) -> None:
        super().__init__(handlers, clock, interval_s)
        self.role = role

    async def fire_due(self) -> int:
        return await super().fire_due() if self.role.runs_urgent else 0

    async def expire_pending(self) -> int:
        return await super().expire_pending() if self.role.runs_bulk else 0

    async def sweep_reminders(self) -> int:
        return await super().sweep_reminders() if self.role.runs_bulk else 0


def create_app(
    settings: EligibilitySettings | None = None,
    clock: Clock = utc_now,
    timer_interval_s: float = 1.0,
    role: Role = Role.ALL,
    relay_standby_s: float = RELAY_STANDBY_S,
) -> FastAPI:
    """`relay_standby_s`: how long an urgent-only process leaves the outbox relay to a bulk process."""
    settings = settings or load_settings()
    configure_logging("eligibility", settings.log_level, settings.log_json)
    engine = make_engine(settings)
    # Per-message "Received/Processed" lines at DEBUG: at thousands of records a second they are noise.
    broker = make_broker(settings, "eligibility" if role is Role.ALL else f"eligibility-{role.value}")
    # One process relays at a time (the advisory lock); an urgent-only one only stands by (RELAY_STANDBY_S).
    # Smaller batches: publishing is CPU work in the event loop that, in the all role, also decides emergencies.
    relay = OutboxRelay(
        engine, outbox, settings.kafka_bootstrap_servers, batch_size=200, client_options=kafka_client_options(settings)
    )
    sessions = make_sessions(engine)

    # An urgent process publishes its committed emergency decisions at once, whichever process holds the
    # relay's lock (the bulk one may, with a wave's rows ahead of them); the outbox row stays the guarantee.
    # Its own relay is not woken at commit (it polls every 0.5 s), or it would send the same rows again.
    # In the all role the relay, woken at each commit, publishes everything in commit order.
    urgent_only = role is Role.URGENT
    publish_now = relay.publish_committed if urgent_only else None
    wake = (lambda: None) if urgent_only else relay.wake
    handlers = EligibilityHandlers(sessions, load_policy(), clock, settings.topic_prefix, wake, publish_now)
    timers = RoleTimers(role, handlers, clock, timer_interval_s)
    wiring: dict[str, tuple[Any, Any]] = {
        EMERGENCY_REQUESTS.name: (request_adapter, handlers.on_emergency),
        PARTICIPANT_EVENTS.name: (participant_event_adapter, handlers.on_participant_events),
        REACTIVATION_REQUESTS.name: (request_adapter, handlers.on_requests),
        PRIVACY_EVENTS.name: (erasure_adapter, PrivacyHandlers(sessions).on_erasures),
        APPEALS.name: (appeal_input_adapter, handlers.on_appeals),
    }
    for consumer in (c for c in consumers(role) for _ in range(c.count)):
        adapter, handler = wiring[consumer.spec.name]
        subscribe(
            broker,
            consumer.spec,
            group=f"{settings.topic_prefix}eligibility-{consumer.group}",
            adapter=adapter,
            service="eligibility",
            prefix=settings.topic_prefix,
            # Whatever queued while one emergency was decided is taken together next time (one
            # transaction, one round of acks): at a burst of emergencies the consumer keeps up.
            batch=True,
            max_records=consumer.max_records,
        )(handler)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(engine, MIGRATIONS, SCHEMA)
        await ensure_topics(settings)
        tune_for_latency()
        await broker.start()
        standby = asyncio.get_running_loop().call_later(relay_standby_s, relay.start) if urgent_only else None
        if standby is None:
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
            if standby is not None:
                standby.cancel()
            await relay.stop()
            await broker.stop()
            await engine.dispose()

    # What its outbox relay writes (every topic Changes.publish takes), for the AsyncAPI document.
    declare_publishers(broker, "eligibility", WRITES, settings.topic_prefix)
    app = FastAPI(title="pbi-reactivation eligibility", lifespan=lifespan)
    instrument(app, "eligibility")
    checks = {"kafka": broker_check(broker), "consumers": consumers_check(broker), "database": lambda: ping(engine)}
    app.include_router(health_router(checks, live={"consumers": consumers_alive(broker)}))
    app.state.handlers, app.state.timers, app.state.relay, app.state.broker = handlers, timers, relay, broker
    app.state.role = role
    return app

"""Wiring of the notifier: database, broker and consumers, providers, the sender loop, webhooks (:8082).

A process runs one role's share (shared.settings.Role). The notifier is on no patient's path to ACTIVE;
its urgent role is what an emergency's people and the on-call staff hear (emergency requests,
decisions, SLA escalations): it queues and sends those, and takes the providers' webhooks on 8082; its
bulk role queues and sends a wave's notices (facts, regular requests), applies erasures and runs the
retention sweep, with health and metrics only (8182). Each role's sender sends its own messages (the
`urgent` column), under the providers' rate."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from services.notifier.api import router
from services.notifier.escalation import install as install_escalation
from services.notifier.handlers import Clock, NotifierHandlers, release_numbered
from services.notifier.inbound import Commands
from services.notifier.privacy import install as install_privacy
from services.notifier.providers.twilio_sms import TwilioSms
from services.notifier.providers.whatsapp import WhatsAppCloud
from services.notifier.sender import Sender
from services.notifier.settings import NotifierSettings
from services.notifier.simulator import SimulatorWhatsApp
from services.notifier.store import MIGRATIONS, SCHEMA, outbox
from services.notifier.uow import PgUnitOfWork
from shared import tracing
from shared.asyncapi import declare_publishers
from shared.db import make_engine, make_sessions, migrate, ping
from shared.emergency_lane import handler_for
from shared.events import any_event_adapter
from shared.http_guard import FrontDoor
from shared.kafka import broker_check, ensure_topics, make_broker, subscribe
from shared.kafka_security import kafka_client_options
from shared.observability import configure_logging, health_router, instrument
from shared.outbox import OutboxRelay
from shared.problems import install_problem_details
from shared.runtime import consumers_alive, consumers_check, tune_for_latency
from shared.settings import Role
from shared.topics import (
    DECISIONS,
    EMERGENCY_DECISIONS,
    EMERGENCY_REQUESTS,
    PARTICIPANT_EVENTS,
    PRIVACY_EVENTS,
    REACTIVATION_REQUESTS,
    TIMER_EVENTS,
    WINDOW_REMINDERS,
    TopicSpec,
)

# TIMER_EVENTS: the SLA states (escalations). Reminders an older eligibility put there (during a rollout) are
# still handled: every listened topic has the one handler, which takes any event.
# EMERGENCY_DECISIONS: an emergency's decisions only (a copy of those on DECISIONS, same event id).
URGENT = (EMERGENCY_REQUESTS, EMERGENCY_DECISIONS, TIMER_EVENTS)
# DECISIONS: every decision; a bulk-only process leaves the emergencies' to the urgent process, which reads
# their copy on EMERGENCY_DECISIONS (shared.emergency_lane: handled by both, the two raced for the person's
# contact row; an `all` process handles whichever copy comes first).
# An event is handled once all the same: its message row's id derives from the event id, and an event without
# a message is claimed in the inbox; both in the batch's transaction.
BULK = (PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, DECISIONS, WINDOW_REMINDERS, PRIVACY_EVENTS)  # erasures: privacy.py
LISTENED = (
    PARTICIPANT_EVENTS,
    REACTIVATION_REQUESTS,
    DECISIONS,
    WINDOW_REMINDERS,
    EMERGENCY_REQUESTS,
    EMERGENCY_DECISIONS,
    TIMER_EVENTS,
)


def load_settings() -> NotifierSettings:
    return NotifierSettings()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Bulk topics whose records come a few a second between waves, for messages that wait for the providers' rate
# anyway: fetched gathered (shared.kafka GATHER_BYTES). Not the wave's topic, not erasures (privacy.py).
GATHERED = (REACTIVATION_REQUESTS, DECISIONS, WINDOW_REMINDERS)


def consumers(role: Role) -> tuple[TopicSpec, ...]:
    """The topics a process of `role` reads (consumer group `<prefix>notifier-<topic>` each)."""
    return (URGENT if role.runs_urgent else ()) + (BULK if role.runs_bulk else ())


def create_app(settings: NotifierSettings | None = None, clock: Clock = utc_now, role: Role = Role.ALL) -> FastAPI:
    settings = settings or load_settings()
    configure_logging("notifier", settings.log_level, settings.log_json)
    # httpx logs every request at INFO: a line per message sent says nothing the sender's metrics and
    # failure lines do not (issue 20: a formatted JSON line per provider call).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    engine = make_engine(settings)
    sessions = make_sessions(engine)
    broker = make_broker(settings, "notifier" if role is Role.ALL else f"notifier-{role.value}")
    http = httpx.AsyncClient(timeout=httpx.Timeout(settings.provider_timeout_s, connect=5))
    # The sender's announcements (NotificationUpdated, dead letters) and BANDING's AppealRequested
    # (services/notifier/appeals.py) go out through this outbox.
    relay = OutboxRelay(engine, outbox, settings.kafka_bootstrap_servers, client_options=kafka_client_options(settings))
    sender = Sender(
        sessions,
        # Local development talks to the simulator, which can also be asked for a message by our reference.
        (SimulatorWhatsApp if settings.pbi_env == "local" else WhatsAppCloud)(settings, http),
        TwilioSms(settings, http),
        relay.wake,
        settings.topic_prefix,
        clock,
        settings.provider_rate_per_s,
        settings.max_attempts,
        ambiguous_wait=dt.timedelta(seconds=2 * settings.provider_timeout_s),
        role=role,
    )
    escalations = install_escalation(settings, clock, sender, http)  # emergencies' SLA to on-call operations
    handlers = NotifierHandlers(sessions, clock, sender.wake, escalations)
    if role.runs_bulk:  # a sweep is bulk work (shared.settings.Role)
        sender.sweeps.append(lambda: release_numbered(PgUnitOfWork(sessions), clock()))

    def wake_after_inbound() -> None:  # an answer to send, an appeal to publish
        sender.wake()
        relay.wake()

    commands = Commands(
        sessions,
        clock,
        wake_after_inbound,
        settings.inbound_replies_per_window,
        settings.inbound_reply_window_s,
        settings.topic_prefix,
    )
    # Erasures consumed (their own subscriber), texts kept N days: the bulk role's (privacy.py).
    retention = install_privacy(broker, sessions, settings, clock) if PRIVACY_EVENTS in consumers(role) else None
    for spec in (s for s in LISTENED if s in consumers(role)):
        subscribe(
            broker,
            spec,
            group=f"{settings.topic_prefix}notifier-{spec.name}",
            adapter=any_event_adapter,
            service="notifier",
            prefix=settings.topic_prefix,
            batch=spec is not EMERGENCY_REQUESTS,
            max_records=500,
            gather=spec in GATHERED,
        )(handler_for(role, spec, handlers.on_events))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(engine, MIGRATIONS, SCHEMA)
        await ensure_topics(settings)
        await broker.start()
        sender.start()
        relay.start()
        if retention is not None:
            retention.start()
        try:
            tune_for_latency()
            yield
        finally:
            tracing.shutdown()
            if retention is not None:
                await retention.stop()
            await relay.stop()
            await sender.stop()
            await broker.stop()
            await http.aclose()
            await engine.dispose()

    app = FastAPI(title="pbi-reactivation notifier", lifespan=lifespan)
    app.state.settings, app.state.sessions, app.state.sender = settings, sessions, sender
    # What its sender (delivery states, failed messages' dead letters) and inbound commands (appeals) write
    # through its outbox, for the AsyncAPI document (shared.asyncapi).
    writes = (*sender.topics, *commands.topics)
    declare_publishers(broker, "notifier", writes, settings.topic_prefix, dead_letters=sender.dead_letters)
    app.state.broker = broker
    app.state.commands, app.state.role = commands, role  # citizens' inbound messages (api.py -> inbound.py)
    if role.runs_urgent:
        # Provider webhooks are small: 64 KiB at most, refused before being read (their signatures are
        # checked by the routes; no API keys here).
        app.add_middleware(FrontDoor)
        install_problem_details(app)  # every error (a bad signature's 401 too) as RFC 9457 problem details
    instrument(app, "notifier")
    if role.runs_urgent:
        app.include_router(router)
    checks = {"kafka": broker_check(broker), "consumers": consumers_check(broker), "database": lambda: ping(engine)}
    app.include_router(health_router(checks, live={"consumers": consumers_alive(broker)}))
    return app

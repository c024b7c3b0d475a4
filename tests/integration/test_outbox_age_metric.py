"""The outbox alert's signal (pbi_outbox_oldest_age_seconds, PbiOutboxStuck in deploy/monitoring/rules):
while Kafka cannot be reached the oldest waiting event's age grows; once the relay publishes, it is 0."""

from __future__ import annotations

import datetime as dt

from prometheus_client import REGISTRY
from sqlalchemy import MetaData, text, update

from shared.db import make_engine
from shared.events import DesilUpdated, ParticipantEvent
from shared.kafka import ensure_topics
from shared.outbox import OutboxRelay, add_to_outbox, outbox_row, outbox_table
from shared.settings import Settings
from shared.topics import STATUS_CHANGES
from testkit.polling import eventually

SCHEMA = "outbox_age"


def age() -> float | None:
    return REGISTRY.get_sample_value("pbi_outbox_oldest_age_seconds", {"schema": SCHEMA})


def event() -> ParticipantEvent:
    return DesilUpdated(
        occurred_at=dt.datetime.now(dt.UTC),
        source="DTSEN",
        nik="3201010101010001",
        desil=4,
        effective_on=dt.date(2025, 7, 1),
    )


async def test_the_oldest_waiting_event_age_grows_while_kafka_is_down_and_drops_once_published(
    settings: Settings,
) -> None:
    engine = make_engine(settings)
    table = outbox_table(MetaData(), SCHEMA)
    topic = settings.topic_prefix + STATUS_CHANGES.name
    async with engine.begin() as conn:
        await conn.execute(text(f"create schema {SCHEMA}"))
        await conn.run_sync(table.metadata.create_all)
        await add_to_outbox(conn, table, [outbox_row(topic, event())])
        # Written ten minutes ago and still waiting.
        ten_minutes_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        await conn.execute(update(table).values(created_at=ten_minutes_ago))

    # Nobody listens on port 9: every pass fails before publishing, and says how old the backlog is.
    stuck = OutboxRelay(engine, table, "127.0.0.1:9", poll_interval_s=0.1)
    stuck.start()
    try:
        await eventually(lambda: _above(600), timeout=60)
    finally:
        await stuck.stop()

    await ensure_topics(settings, [STATUS_CHANGES])
    relay = OutboxRelay(engine, table, settings.kafka_bootstrap_servers, poll_interval_s=0.1)
    relay.start()
    try:
        await eventually(lambda: _published(relay), timeout=60)
        await eventually(lambda: _equals(0.0), timeout=30)
    finally:
        await relay.stop()
        await engine.dispose()


async def _above(seconds: float) -> bool:
    value = age()
    return value is not None and value >= seconds


async def _equals(seconds: float) -> bool:
    return age() == seconds


async def _published(relay: OutboxRelay) -> bool:
    return relay.published == 1

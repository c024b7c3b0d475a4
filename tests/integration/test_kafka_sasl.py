"""The services' Kafka clients log in with SCRAM-SHA-512 for real: the local broker's second listener
(deploy/local/kafka.sh, 127.0.0.1:9094) asks for it, as the cluster's does (docs/security.md, "Cluster").

The settings are the services' own (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*), read from the file the
script writes; producing, transactions, the outbox relay, consuming in a group and the admin calls all go
through it.
A wrong password and a client without a login are refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr
from sqlalchemy import MetaData, text

from services.intake.publisher import BrokerUnavailable, Publisher
from services.registry.dashboard.kafka_health import KafkaHealth
from shared.db import make_engine
from shared.events import DesilUpdated, ParticipantEvent, participant_event_adapter
from shared.kafka import ensure_topics, make_broker, subscribe
from shared.kafka_security import kafka_client_options
from shared.outbox import OutboxRelay, add_to_outbox, outbox_row, outbox_table
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS, STATUS_CHANGES
from testkit.infra import Infra
from testkit.polling import eventually

NIKS = ("3674015708900001", "3674015708900002", "3674015708900003")


def sasl_env_file() -> Path:
    state = os.environ.get("PBI_STATE_DIR") or str(Path.home() / ".local" / "state" / "pbi")
    return Path(state) / "kafka" / "sasl.env"


def read_env(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


@pytest.fixture
def scram_settings(infra: Infra, settings: Settings) -> Settings:
    """The test's settings (own topics, own database), pointed at the SCRAM listener with its login."""
    if infra.how != "local":
        pytest.skip(f"Kafka comes from {infra.how}: the SCRAM listener is the local broker's (deploy/local)")
    path = sasl_env_file()
    if not path.exists():
        pytest.fail(f"{path} missing: run `make infra-up` (deploy/local/kafka.sh adds the SCRAM listener)")
    env = read_env(path)
    return Settings.model_validate({**settings.model_dump(), **{name.lower(): value for name, value in env.items()}})


def desil(nik: str) -> DesilUpdated:
    return DesilUpdated(
        occurred_at=dt.datetime.now(dt.UTC), source="DTSEN", nik=nik, desil=4, effective_on=dt.date(2025, 7, 1)
    )


@pytest.fixture
async def publisher(scram_settings: Settings) -> AsyncIterator[Publisher]:
    p = Publisher(scram_settings)
    yield p
    await p.stop()


async def test_services_produce_and_consume_through_the_scram_listener(
    scram_settings: Settings, publisher: Publisher
) -> None:
    assert scram_settings.kafka_security_protocol == "SASL_PLAINTEXT"
    assert scram_settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert scram_settings.kafka_bootstrap_servers != "127.0.0.1:9092"  # not the plaintext listener
    assert await ensure_topics(scram_settings) == []  # the admin client logs in and finds the test's topics

    received: list[ParticipantEvent] = []
    broker = make_broker(scram_settings, "test-scram")

    @subscribe(
        broker,
        PARTICIPANT_EVENTS,
        group=f"{scram_settings.topic_prefix}scram",
        adapter=participant_event_adapter,
        service="test",
        prefix=scram_settings.topic_prefix,
        batch=True,
    )
    async def on_events(events: list[ParticipantEvent]) -> None:
        received.extend(events)

    await broker.start()
    try:
        sent = [desil(nik) for nik in NIKS]
        await publisher.publish(PARTICIPANT_EVENTS.name, sent[:1])  # a plain idempotent send
        await publisher.publish(PARTICIPANT_EVENTS.name, sent[1:])  # a transaction

        async def all_received() -> bool:
            return {e.event_id for e in received} == {e.event_id for e in sent}

        await eventually(all_received, timeout=60)
        # The dashboard's admin and consumer clients read the group's lag through the same login.
        health = KafkaHealth(
            scram_settings.kafka_bootstrap_servers,
            scram_settings.topic_prefix,
            client_options=kafka_client_options(scram_settings),
        )
        assert "scram" in (await health._read())["consumer_lag"]  # noqa: SLF001 - errors must surface here
    finally:
        await broker.stop()


async def test_the_outbox_relay_publishes_through_the_scram_listener(scram_settings: Settings) -> None:
    """The path of every decision and status change: outbox row -> relay's producer -> topic."""
    engine = make_engine(scram_settings)
    table = outbox_table(MetaData(), "scram")
    async with engine.begin() as conn:
        await conn.execute(text("create schema scram"))
        await conn.run_sync(table.metadata.create_all)
        event = desil(NIKS[0])
        await add_to_outbox(conn, table, [outbox_row(scram_settings.topic_prefix + STATUS_CHANGES.name, event)])
    relay = OutboxRelay(
        engine,
        table,
        scram_settings.kafka_bootstrap_servers,
        client_options=kafka_client_options(scram_settings),
    )
    consumer = AIOKafkaConsumer(
        scram_settings.topic_prefix + STATUS_CHANGES.name,
        **kafka_client_options(scram_settings),
        auto_offset_reset="earliest",
    )
    relay.start()
    await consumer.start()
    try:
        seen: list[bytes] = []

        async def relayed() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen.extend(r.value for r in records)
            return any(str(event.event_id).encode() in v for v in seen)

        await eventually(relayed, timeout=60)
    finally:
        await consumer.stop()
        await relay.stop()
        await engine.dispose()


async def test_a_wrong_password_is_refused(scram_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    wrong = scram_settings.model_copy(update={"kafka_sasl_password": SecretStr("not-the-password")})
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(ensure_topics(wrong), 60)
    publisher = Publisher(wrong)
    with pytest.raises(BrokerUnavailable):
        await publisher.ping()
    await publisher.stop()
    # Refused by the broker's SCRAM check, not for want of a listener.
    assert "SaslAuthenticationFailed" in caplog.text


async def test_a_client_without_a_login_gets_nothing_from_the_scram_listener(scram_settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=scram_settings.kafka_bootstrap_servers, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=scram_settings.kafka_bootstrap_servers, request_timeout_ms=5000)
    for client in (admin, consumer):
        with pytest.raises((KafkaConnectionError, asyncio.TimeoutError)):
            await asyncio.wait_for(client.start(), 30)
    await admin.close()
    await consumer.stop()

"""The AsyncAPI document's publishers are what the services really produce: each service's app.py declares
the topics of the objects that write (intake's Publisher, eligibility's domain.records.WRITES, the notifier's
Sender and Commands, the registry's PgUnitOfWork and privacy.TOPICS), and here the records those objects
emit, driven as the services' own tests drive them, go only to topics the service's document says it sends."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from pbi_cli.docs import system_document
from services.eligibility.domain.records import WRITES, Changes
from services.intake.publisher import Publisher
from services.notifier.inbound import Commands
from services.notifier.sender import Sender
from services.registry import privacy as registry_privacy
from services.registry.uow import PgUnitOfWork
from shared.events import ParticipantDeactivated, ReactivationRequested
from shared.settings import IntakeSettings
from shared.topics import PRIVACY_EVENTS
from tests.unit.eligibility.handler_cases import HandlerCases, MemoryBackend

PREFIX = "t."  # the prefix eligibility's handler cases write with (handler_cases.World)
NIK = "3674015708900001"
AT = dt.datetime(2026, 7, 1, 3, 0, tzinfo=dt.UTC)


@cache
def operations() -> dict[tuple[str, str], frozenset[str]]:
    """(service, action) -> the topics its document says it sends or receives (operations `<service>:...`)."""
    found: dict[tuple[str, str], set[str]] = {}
    doc = system_document(PREFIX)
    for key, op in doc["operations"].items():
        address = doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
        found.setdefault((key.split(":", 1)[0], op["action"]), set()).add(address)
    return {k: frozenset(v) for k, v in found.items()}


def sends(service: str) -> frozenset[str]:
    return operations()[(service, "send")]


def own_publishers(service: str) -> set[str]:
    """What a service declares beside the dead letters of what it reads (those are shared.kafka.subscribe's)."""
    return set(sends(service)) - {topic + ".dlq" for topic in operations()[(service, "receive")]}


def test_each_service_declares_the_topics_of_its_producing_objects() -> None:
    dead = PREFIX + Sender.dead_letters[0].dlq
    assert own_publishers("intake") == {PREFIX + s.name for s in Publisher.topics}
    assert own_publishers("eligibility") == {PREFIX + s.name for s in WRITES}
    assert own_publishers("notifier") == {PREFIX + s.name for s in (*Sender.topics, *Commands.topics)} | {dead}
    assert dead in sends("notifier")  # a failed message's dead letter: the notifier reads no such topic
    registry = (*PgUnitOfWork.topics, *registry_privacy.TOPICS)
    assert own_publishers("registry") == {PREFIX + s.name for s in registry}


# Eligibility: every handler case (tests/unit/eligibility/handler_cases.py, on the in-memory unit of work) again,
# each ending with the topics of every outbox row it left, the rows its relay publishes, checked.


@pytest.fixture
def backend() -> Iterator[MemoryBackend]:
    memory = MemoryBackend()
    yield memory
    written = {row["topic"] for row in memory.store.outbox}
    assert written <= sends("eligibility"), written - sends("eligibility")


class TestEligibilityWritesOnlyWhatItsDocumentSays(HandlerCases):
    pass


def test_eligibility_refuses_to_write_a_topic_it_does_not_declare() -> None:
    event = ParticipantDeactivated(
        occurred_at=AT, source="SIKS-NG", nik=NIK, reason="DESIL_ABOVE_5", deactivated_on=AT.date()
    )
    with pytest.raises(ValueError, match="WRITES"):
        Changes().publish(PRIVACY_EVENTS, event, None)


# Intake: whatever goes through its Publisher (the API's events, requests and appeals; a big batch's address,
# handed to the bulk worker) is one of its declared topics, and nothing else goes out.


class Producer:
    def __init__(self) -> None:
        self.topics: list[str] = []

    async def send(self, records: list[Any]) -> Any:
        self.topics.extend(r.topic for r in records)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def publish(self, records: list[Any]) -> None:
        self.topics.extend(r.topic for r in records)


def request(nik: str = NIK) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=AT, source="intake", nik=nik, request_id=uuid.uuid4(), path="REGULAR", channel="VILLAGE",
        received_at=AT,
    )  # fmt: skip


async def test_intake_publishes_only_to_its_declared_topics_and_refuses_any_other() -> None:
    publisher = Publisher(IntakeSettings(topic_prefix=PREFIX))
    publisher._single = publisher._batch = producer = Producer()  # type: ignore[assignment]
    for spec in publisher.topics:
        await publisher.publish(spec.name, [request()])
        await publisher.publish(spec.name, [request(), request("3674015708900002")])
    bulk = publisher.address(Publisher.topics[0].name)  # what api.py hands the bulk worker
    assert {*producer.topics, bulk} <= sends("intake")
    for undeclared in ("pbi.decisions.v1", "pbi.appeals.v1.dlq"):
        with pytest.raises(ValueError, match="TOPICS"):
            await publisher.publish(undeclared, [request()])
    assert len(producer.topics) == 3 * len(publisher.topics)  # nothing of the refused sent


# The notifier: its sender's outbox rows (a state announced, a message that finally failed). Its inbound
# commands' row (a BANDING's appeal) is written to Commands.topics, declared above, on PostgreSQL only.


def test_the_notifier_sender_writes_only_to_its_declared_topics() -> None:
    sender = Sender(None, None, None, lambda: None, PREFIX, lambda: AT, 10.0, 3)  # type: ignore[arg-type]
    row = {"message_id": uuid.uuid4(), "nik": NIK, "kind": "decision", "channel": "WHATSAPP", "correlation_id": None}
    _, failed = sender._fail(row, "provider refused")
    rows = [*sender.announcement(row, "SENT"), *failed]
    assert {r["topic"] for r in rows} == {
        PREFIX + "pbi.notification-events.v1",
        PREFIX + "pbi.notification-events.v1.dlq",
    }
    assert {r["topic"] for r in rows} <= sends("notifier")


# The registry: an erasure's announcement (privacy.erase). Its status changes (uow.PgUnitOfWork.save) are written
# to PgUnitOfWork.topics, declared above, on PostgreSQL only.


class Session:
    async def execute(self, *_: Any) -> None:
        return None


async def test_the_registry_announces_an_erasure_on_a_topic_it_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[dict[str, Any]] = []

    async def add_to_outbox(_session: Any, _table: Any, rows: list[dict[str, Any]]) -> None:
        written.extend(rows)

    monkeypatch.setattr(registry_privacy, "add_to_outbox", add_to_outbox)
    await registry_privacy.erase(Session(), NIK, "key-1", AT, PREFIX)  # type: ignore[arg-type]
    assert [r["topic"] for r in written] == [PREFIX + "pbi.privacy-events.v1"]
    assert {r["topic"] for r in written} <= sends("registry")

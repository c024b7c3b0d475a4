"""Records and their headers are built in one place (shared.messaging): what consumers read from them
(shared.kafka, shared.correlation) and what an outbox row keeps are the same."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from aiokafka import ConsumerRecord
from opentelemetry.sdk.trace import TracerProvider

from shared import correlation, tracing
from shared.events import DesilUpdated, participant_event_adapter
from shared.kafka import dead_letter_record
from shared.messaging import (
    EVENT_TYPE,
    DirectPublisher,
    Record,
    encoded_records,
    event_headers,
    unique_transactional_id,
)
from shared.outbox import outbox_row
from shared.settings import Settings

NIK = "3674015708900001"


def desil() -> DesilUpdated:
    return DesilUpdated(
        occurred_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
        source="DTSEN",
        nik=NIK,
        desil=3,
        effective_on=dt.date(2025, 7, 1),
    )


def test_a_record_of_an_event_is_its_json_keyed_by_nik_with_its_type() -> None:
    event = desil()
    record = Record.of("p.pbi.participant-events.v1", event)
    assert record.topic == "p.pbi.participant-events.v1"
    assert record.key == NIK.encode()
    assert participant_event_adapter.validate_json(record.value) == event
    assert record.headers == [(EVENT_TYPE, b"participant.desil_updated")]


def test_the_current_correlation_id_goes_on_the_record_and_consumers_read_it_back() -> None:
    with correlation.bound("req-42"):
        record = Record.of("t", desil())
    assert correlation.from_headers(record.headers) == "req-42"


def test_a_caused_event_carries_its_causes_correlation_id_and_an_explicit_one_wins() -> None:
    cause = uuid.uuid4()
    with correlation.handling({cause: "req-a", uuid.uuid4(): "req-b"}):
        assert correlation.from_headers(Record.of("t", desil(), cause=cause).headers) == "req-a"
        assert correlation.from_headers(Record.of("t", desil()).headers) is None  # two requests: none is current
        explicit = Record.of("t", desil(), cause=cause, correlation_id="msg-1")
    assert correlation.from_headers(explicit.headers) == "msg-1"


def test_an_outbox_row_keeps_the_same_headers_and_becomes_the_same_record() -> None:
    event, cause = desil(), uuid.uuid4()
    with correlation.handling({cause: "req-7"}):
        row = outbox_row("t", event, {"x-dlq-reason": "why"}, cause=cause)
        direct = Record.of("t", event, cause=cause, headers={"x-dlq-reason": "why"})
    assert row["headers"] == {EVENT_TYPE: event.type, correlation.HEADER: "req-7", "x-dlq-reason": "why"}
    assert Record.from_row(row) == direct
    assert row["event_id"] == event.event_id


def test_encoded_batches_get_the_headers_a_record_of_the_event_gets() -> None:
    event = desil()
    with correlation.bound("batch-1"):
        [from_batch] = encoded_records("t", [(event.model_dump_json().encode(), event.kafka_key(), b"x")])
        single = Record.of("t", event)
    assert from_batch.headers[0] == (EVENT_TYPE, b"x")
    assert from_batch.headers[1:] == single.headers[1:]


def test_with_tracing_on_the_trace_context_travels_in_the_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_enabled", True)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        headers = event_headers("participant.desil_updated")
    assert set(headers) >= {EVENT_TYPE, "traceparent"}
    assert format(span.get_span_context().trace_id, "032x") in headers["traceparent"]
    assert "traceparent" not in event_headers("x")  # outside a span nothing to carry


def test_every_producer_waits_for_all_replicas_and_is_idempotent() -> None:
    plain = DirectPublisher.for_settings(Settings(), linger_ms=2, acks=1, enable_idempotence=False)
    assert plain.options["acks"] == "all" and plain.options["enable_idempotence"] is True
    assert plain.options["linger_ms"] == 2 and not plain.transactional
    tx = DirectPublisher.for_settings(Settings(topic_prefix="p."), transactional="intake")
    assert tx.transactional and tx.options["transactional_id"].startswith("p.intake-")
    assert unique_transactional_id("x") != unique_transactional_id("x")


async def test_a_transactional_publisher_refuses_to_send_outside_a_transaction() -> None:
    tx = DirectPublisher.for_settings(Settings(), transactional="intake")
    with pytest.raises(TypeError, match="publish"):
        await tx.send([Record("t", b"{}")])
    await tx.publish([])  # nothing to publish: not even a connection


def test_a_dead_letter_is_the_record_as_it_came_with_the_failure_in_its_headers() -> None:
    incoming = Record.of("p.pbi.decisions.v1", desil(), correlation_id="req-9")
    record = ConsumerRecord(
        incoming.topic, 1, 42, 0, 0, incoming.key, incoming.value, None, 0, 0, list(incoming.headers)
    )
    dead = dead_letter_record(record, f"schema violation: nik {NIK}", "PoisonRecord", 3, "p.registry")
    assert (dead.topic, dead.key, dead.value) == ("p.pbi.decisions.v1.dlq", incoming.key, incoming.value)
    headers = dict(dead.headers)
    assert headers[correlation.HEADER] == b"req-9" and headers[EVENT_TYPE] == b"participant.desil_updated"
    assert headers["x-original-topic"] == b"p.pbi.decisions.v1" and headers["x-original-offset"] == b"42"
    assert headers["x-retry-count"] == b"3" and headers["x-consumer-group"] == b"p.registry"
    assert NIK.encode() not in headers["x-dlq-reason"]  # masked

"""Instruments people expect, on the real broker and database: FastStream's Prometheus middleware counts
and times what every consumer receives, and with tracing on every SQL statement is a client span."""

from __future__ import annotations

import datetime as dt

import pytest
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from sqlalchemy import text

from shared import tracing
from shared.db import make_engine
from shared.events import DesilUpdated, ParticipantEvent, participant_event_adapter
from shared.kafka import make_broker, subscribe
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.kafka import produce
from testkit.polling import eventually


def faststream_samples(name: str, app_name: str) -> float:
    return sum(
        s.value
        for metric in REGISTRY.collect()
        for s in metric.samples
        if s.name == name and s.labels.get("app_name") == app_name
    )


async def test_consumers_are_counted_and_timed_by_faststreams_middleware(settings: Settings) -> None:
    broker = make_broker(settings, "metrics-probe")
    seen: list[ParticipantEvent] = []

    @subscribe(
        broker,
        PARTICIPANT_EVENTS,
        group="metrics-probe",
        adapter=participant_event_adapter,
        service="t",
        prefix=settings.topic_prefix,
    )
    async def on_events(events: list[ParticipantEvent]) -> None:
        seen.extend(events)

    await broker.start()
    try:
        event = DesilUpdated(
            occurred_at=dt.datetime.now(dt.UTC),
            source="DTSEN",
            nik="3674015708900001",
            desil=3,
            effective_on=dt.date(2025, 7, 1),
        )
        await produce(settings, PARTICIPANT_EVENTS, event)

        async def counted() -> float:
            return seen and faststream_samples("faststream_received_processed_messages_total", "metrics-probe")

        assert await eventually(counted) >= 1
        assert faststream_samples("faststream_received_messages_total", "metrics-probe") >= 1
        assert faststream_samples("faststream_received_processed_messages_duration_seconds_count", "metrics-probe") >= 1
    finally:
        await broker.stop()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    yield exporter
    SQLAlchemyInstrumentor().uninstrument()
    tracing._engines.clear()  # noqa: SLF001 - the test's engines only


async def test_with_tracing_on_every_sql_statement_is_a_span(settings: Settings, spans: InMemorySpanExporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    engine = make_engine(settings)
    try:
        tracing.trace_engine(engine, tracer_provider=provider)
        async with engine.connect() as conn:
            await conn.execute(text("select 41 + 1"))
    finally:
        await engine.dispose()
    statements = [s.attributes.get("db.statement") for s in spans.get_finished_spans()]
    assert "select 41 + 1" in statements, statements


def test_an_engine_is_traced_only_when_an_endpoint_is_configured(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    make_engine(settings)
    assert not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    engine = make_engine(settings)
    assert SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
    assert engine.sync_engine in tracing._engines  # noqa: SLF001

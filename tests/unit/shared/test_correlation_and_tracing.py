"""Correlation ids (shared.correlation), the HTTP request context and the tracing helpers."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import correlation, tracing
from shared.events import DesilUpdated
from shared.observability import HTTP_REQUESTS, RequestContext
from shared.outbox import outbox_row


def desil_event() -> DesilUpdated:
    return DesilUpdated(
        occurred_at=dt.datetime.now(dt.UTC),
        source="DTSEN",
        nik="3674015708900001",
        desil=3,
        effective_on=dt.date(2025, 7, 1),
    )


@pytest.mark.parametrize(
    ("supplied", "kept"),
    [
        ("simrs-rsud-2026-000123", True),
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        (None, False),
        ("", False),
        ("has spaces", False),
        ('"}{injected', False),
        ("x" * 65, False),
    ],
)
def test_a_callers_id_is_kept_only_when_it_is_a_sane_token(supplied: str | None, kept: bool) -> None:
    got = correlation.accept(supplied)
    assert (got == supplied) is kept
    assert correlation.accept(got) == got  # whatever we hand out is itself acceptable


def test_headers_round_trip_and_garbage_is_ignored() -> None:
    assert correlation.from_headers(correlation.kafka_headers("abc-1")) == "abc-1"
    assert correlation.from_headers([("x-event-type", b"x"), (correlation.HEADER, b"bad value")]) is None
    assert correlation.from_headers(None) is None
    assert correlation.kafka_headers(None) == []


def test_a_batch_knows_each_events_id_and_binds_only_a_single_one() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    with correlation.handling({a: "req-a", b: "req-b"}):
        assert correlation.for_event(a) == "req-a"
        assert correlation.for_event(b) == "req-b"
        assert correlation.current() is None  # two requests in one batch: no single id for the log lines
    with correlation.handling({a: "req-a"}):
        assert correlation.current() == "req-a"
        assert structlog.contextvars.get_contextvars()["correlation_id"] == "req-a"
        assert correlation.for_event(uuid.uuid4()) == "req-a"  # caused by the batch's one request
    assert correlation.current() is None
    assert "correlation_id" not in structlog.contextvars.get_contextvars()


def test_outbox_rows_carry_the_correlation_id_of_their_cause() -> None:
    cause, event = uuid.uuid4(), desil_event()
    with correlation.handling({cause: "req-77", uuid.uuid4(): "req-88"}):
        row = outbox_row("decisions", event, cause=cause)
        unrelated = outbox_row("decisions", event)
    assert row["headers"][correlation.HEADER] == "req-77"
    assert row["headers"]["x-event-type"] == event.type
    assert correlation.HEADER not in unrelated["headers"]


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestContext, service="unit")
    seen: dict[str, str | None] = {}

    @app.get("/v1/participants/{nik}")
    async def participant(nik: str) -> dict[str, str | None]:
        seen["current"] = correlation.current()
        return {"correlation": correlation.current()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.state.seen = seen
    return app


async def test_requests_get_an_id_echoed_back_and_are_counted_by_route_template() -> None:
    app = _app()
    route = "/v1/participants/{nik}"
    before = HTTP_REQUESTS.labels("unit", route, "200")._value.get()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        given = await client.get("/v1/participants/3674015708900001", headers={"X-Correlation-ID": "sim-42"})
        fresh = await client.get("/v1/participants/3674015708900002")
        await client.get("/nowhere")
    assert given.headers["X-Correlation-ID"] == "sim-42" == given.json()["correlation"]
    assert fresh.headers["X-Correlation-ID"] == fresh.json()["correlation"] != "sim-42"
    assert HTTP_REQUESTS.labels("unit", route, "200")._value.get() - before == 2
    # The raw path (it holds a NIK) is never a label value; unmatched paths share one.
    assert HTTP_REQUESTS.labels("unit", "unmatched", "404")._value.get() >= 1
    assert not any("3674015708900001" in str(m.samples) for m in HTTP_REQUESTS.collect())


async def test_a_crashing_handler_is_counted_as_500() -> None:
    before = HTTP_REQUESTS.labels("unit", "/boom", "500")._value.get()
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/boom")).status_code == 500
    assert HTTP_REQUESTS.labels("unit", "/boom", "500")._value.get() - before == 1


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing switched on with an in-memory exporter (the process-wide provider is left alone)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_enabled", True)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def test_tracing_is_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.configure_tracing("unit") is False
    assert tracing.kafka_headers() == [] and tracing.inject({}) == {}
    with tracing.consuming("participant-events", [None]):
        pass


def test_a_lone_record_continues_its_trace_and_a_batch_links_to_each(spans: InMemorySpanExporter) -> None:
    with tracing._tracer.start_as_current_span("intake request") as origin:
        headers = tracing.kafka_headers()
    with tracing._tracer.start_as_current_span("other request"):
        other = tracing.kafka_headers()
    assert [k for k, _ in headers] == ["traceparent"]

    with tracing.consuming("reactivation-requests", [headers]):
        downstream = tracing.inject({})
    with tracing.consuming("participant-events", [headers, other, None]):
        pass

    by_name = {s.name: s for s in spans.get_finished_spans()}
    single = by_name["process reactivation-requests"]
    assert single.context.trace_id == origin.get_span_context().trace_id
    assert single.kind is trace.SpanKind.CONSUMER
    # What the consumer publishes next continues from its span.
    assert f"{single.context.span_id:016x}" in downstream["traceparent"]
    batch = by_name["process participant-events"]
    assert batch.attributes["messaging.batch.message_count"] == 3
    assert {link.context.trace_id for link in batch.links} == {
        origin.get_span_context().trace_id,
        by_name["other request"].context.trace_id,
    }


NIK = "3674015708900001"
PHONE = "+6281234567890"


async def test_http_server_spans_carry_the_route_template_never_the_nik_in_the_url(
    spans: InMemorySpanExporter,
) -> None:
    app = _app()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.instrument_app(app, tracer_provider=provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get(f"/v1/participants/{NIK}", params={"phone": PHONE})).status_code == 200
        assert (await client.get(f"/nowhere/{NIK}")).status_code == 404
    server = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert len(server) == 2
    # Before any exporter masking: the span itself holds the template, not the raw path.
    seen = " ".join(f"{s.name} {dict(s.attributes or {})}" for s in server)
    assert NIK not in seen and "1234567890" not in seen, seen
    assert server[0].attributes["http.route"] == "/v1/participants/{nik}"
    provider.shutdown()


def test_the_exporter_masks_every_span_name_and_attribute() -> None:
    inner = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing.MaskingExporter(inner)))
    with provider.get_tracer("t").start_as_current_span(f"lookup {NIK}", attributes={"q": f"to={PHONE}"}) as span:
        span.add_event("failed", {"detail": f"nik {NIK}"})
        span.set_attribute("count", 3)
    (exported,) = inner.get_finished_spans()
    text = f"{exported.name} {dict(exported.attributes or {})} {[dict(e.attributes or {}) for e in exported.events]}"
    assert NIK not in text and PHONE not in text
    assert "3674********0001" in exported.name and exported.attributes["count"] == 3
    provider.shutdown()


async def test_a_request_refused_before_routing_is_counted_under_its_route_template() -> None:
    """The front door answers 401/413 before the router runs; the count still names the route."""
    app = FastAPI()

    @app.get("/v1/reactivations/{request_id}")
    async def reactivation(request_id: str) -> dict[str, str]:
        return {"id": request_id}

    async def refuse_before_routing(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app.router(scope, receive, send)

    guarded = RequestContext(refuse_before_routing, service="unit-guarded", api=app)
    route = "/v1/reactivations/{request_id}"
    before = HTTP_REQUESTS.labels("unit-guarded", route, "401")._value.get()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://t") as client:
        assert (await client.get("/v1/reactivations/3674015708900001")).status_code == 401
        assert (await client.get("/elsewhere")).status_code == 401
    assert HTTP_REQUESTS.labels("unit-guarded", route, "401")._value.get() - before == 1
    assert HTTP_REQUESTS.labels("unit-guarded", "unmatched", "401")._value.get() >= 1

"""OpenTelemetry tracing: off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set.

When on, each service exports spans over OTLP/HTTP (the SDK reads the standard `OTEL_*` variables:
headers, sampler, batch delay). Intake's HTTP requests are server spans; the W3C `traceparent`
goes into the Kafka headers of every record published, the outbox included, so a consumer's
"process <topic>" span continues the trace of a single record, or links to every record of a
batch (the messaging conventions for batches). Off, nothing is imported beyond the API and the
hot paths skip it with one flag check. No whole NIK or phone leaves in a span: server spans carry the
route template, not the raw URL (use_route_template), and the exporter masks every name and attribute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from opentelemetry import propagate, trace

from shared.masking import mask_personal_data

MAX_LINKS = 128  # a batch of thousands links to its first records only (span size stays bounded)
_enabled = False
_tracer = trace.get_tracer("pbi-reactivation")


def endpoint_configured() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def enabled() -> bool:
    return _enabled


def configure_tracing(service: str, app: Any = None) -> bool:
    """Install the SDK (once per process) and instrument `app` (FastAPI) when an endpoint is set."""
    global _enabled
    if not endpoint_configured():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        name = os.environ.get("OTEL_SERVICE_NAME") or f"pbi-{service}"
        provider = TracerProvider(resource=Resource.create({"service.name": name, "service.namespace": "pbi"}))
        provider.add_span_processor(BatchSpanProcessor(cast("SpanExporter", MaskingExporter(OTLPSpanExporter()))))
        trace.set_tracer_provider(provider)
    if app is not None:
        instrument_app(app)
    _enabled = True
    return True


_engines: list[Any] = []


def trace_engine(engine: Any, tracer_provider: Any = None) -> None:
    """SQL statements as client spans (opentelemetry-instrumentation-sqlalchemy) when tracing is on.
    Engines are made before the app configures tracing: the instrumentor's tracer follows the global
    provider once it is set. It instruments once per process, so each new engine re-instruments all."""
    if not (endpoint_configured() or tracer_provider is not None):
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    target = getattr(engine, "sync_engine", engine)  # an AsyncEngine's events are its sync engine's
    _engines.append(target)
    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    # Its declared range ends before SQLAlchemy 2.1; the event listeners it uses are unchanged there
    # (tests/integration/test_observability_instruments.py checks the spans).
    instrumentor.instrument(engines=list(_engines), tracer_provider=tracer_provider, skip_dep_check=True)


def instrument_app(app: Any, tracer_provider: Any = None) -> None:
    """HTTP server spans for a FastAPI app (named by route template; see use_route_template)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics", tracer_provider=tracer_provider)


# URL attributes the HTTP server span gets from the raw request (the path holds a NIK on
# /v1/participants/{nik}): once the route is known they are replaced by its template.
_URL_ATTRIBUTES = ("http.target", "url.path", "http.url", "url.full")


def use_route_template(route: str | None) -> None:
    """On the current (HTTP server) span: the route template instead of the raw path and URL, the
    query string masked. Called by the request middleware once routing has happened."""
    span = trace.get_current_span()
    attributes = getattr(span, "attributes", None) or {}
    if not span.is_recording() or not attributes:
        return
    template = route or "unmatched"
    span.set_attribute("http.route", template)
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            path = value.split("?", 1)[0]
            start = path.find("/", path.find("//") + 2) if "//" in path else 0
            span.set_attribute(key, (path[:start] if start > 0 else "") + template)
    if isinstance(query := attributes.get("url.query"), str):
        span.set_attribute("url.query", mask_personal_data(query))


class MaskingExporter:
    """Wraps the real exporter: span names, attributes and event attributes go out masked (the last
    line of defence behind use_route_template, for spans of libraries and unmatched paths)."""

    def __init__(self, exporter: Any) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[Any]) -> Any:
        return self.exporter.export([masked_span(s) for s in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.exporter.force_flush(timeout_millis))


def _masked_attributes(attributes: Any) -> dict[str, Any]:
    return {k: mask_personal_data(v) if isinstance(v, str) else v for k, v in (attributes or {}).items()}


def masked_span(span: Any) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan

    return ReadableSpan(
        name=mask_personal_data(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_masked_attributes(span.attributes),
        events=[Event(e.name, _masked_attributes(e.attributes), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def shutdown() -> None:
    """Export what is buffered (a stopping service would otherwise drop its last spans)."""
    provider = trace.get_tracer_provider()
    if _enabled and hasattr(provider, "force_flush"):
        provider.force_flush(5_000)


def annotate(**attributes: str) -> None:
    """Attributes on the current span (the HTTP server span in a request), prefixed `pbi.`."""
    span = trace.get_current_span()
    for key, value in attributes.items():
        span.set_attribute(f"pbi.{key}", value)


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Adds `traceparent` (and `tracestate`) of the current span to `headers`, when tracing is on."""
    if _enabled:
        propagate.inject(headers)
    return headers


def kafka_headers() -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in inject({}).items()]


@contextmanager
def consuming(topic: str, headers_of_records: Sequence[Sequence[tuple[str, bytes]] | None]) -> Iterator[None]:
    """A CONSUMER span around handling records of `topic`: child of a lone record's trace, linked to a batch's."""
    if not _enabled:
        yield
        return
    contexts = [propagate.extract({k: v.decode(errors="replace") for k, v in h or ()}) for h in headers_of_records]
    links = []
    for ctx in contexts[:MAX_LINKS]:
        span_context = trace.get_current_span(ctx).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    parent = contexts[0] if len(contexts) == 1 else None
    with _tracer.start_as_current_span(
        f"process {topic}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.batch.message_count": len(contexts),
        },
    ):
        yield

"""Logging (structlog, JSON, personal data masked), Prometheus metrics and health endpoints."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import correlation, tracing
from shared.kafka import mask_personal_data

HTTP_REQUESTS = Counter(
    "pbi_http_requests_total",
    "HTTP requests answered, by route template (never the raw path: it may hold a NIK) and status",
    ["service", "route", "status"],
)


def _mask_event(_: object, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: no whole NIK or phone number reaches a log line."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_personal_data(value)
    return event_dict


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _mask_event,
    ]
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through the standard library: same level, masked, one line each.
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stdout,
        format=f'{{"service": "{service}", "logger": "%(name)s", "level": "%(levelname)s", "event": "%(message)s"}}',
    )
    for noisy in ("aiokafka", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_MaskFilter())


class _MaskFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_personal_data(record.getMessage())
        record.args = ()
        return True


class RequestContext:
    """ASGI middleware for every service: each request gets a correlation id (the caller's
    `X-Correlation-ID` when it is a sane token, else a new one), bound to its log lines and echoed
    in the response, and is counted in pbi_http_requests_total."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = correlation.accept(Headers(scope=scope).get(correlation.HTTP_HEADER))
        status = 500  # what the client sees when the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(correlation.HTTP_HEADER, cid)
            await send(message)

        if tracing.enabled():
            tracing.annotate(correlation_id=cid)
        with correlation.bound(cid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                HTTP_REQUESTS.labels(self.service, route, str(status)).inc()


def instrument(app: FastAPI, service: str) -> None:
    """What every service's app gets: the request context above and, when configured, tracing."""
    app.add_middleware(RequestContext, service=service)
    tracing.configure_tracing(service, app)


Check = Callable[[], Awaitable[object]]


def health_router(checks: dict[str, Check]) -> APIRouter:
    """/healthz (process alive), /readyz (every dependency answers), /metrics (Prometheus)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                results[name] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        response.status_code = 200 if ready else 503
        return {"status": "ready" if ready else "not ready", "checks": results}

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router

"""Logging (structlog, JSON, personal data masked), Prometheus metrics and health endpoints."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import correlation, tracing
from shared.masking import mask_personal_data

HTTP_REQUESTS = Counter(
    "pbi_http_requests_total",
    "HTTP requests answered, by route template (never the raw path: it may hold a NIK) and status",
    ["service", "route", "status"],
)
# Measured by prometheus-fastapi-instrumentator (its middleware times each request and resolves the route
# template); the metric is ours, defined once per process, so every app in it (tests build many) reports.
HTTP_DURATION = Histogram(
    "pbi_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template (never the raw path) and method",
    ["service", "route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def _masked(renderer: Callable[..., Any]) -> Callable[..., Any]:
    """Last line of defence: the whole rendered line is masked (nested values, keys and formatted
    tracebacks included), so no whole NIK or phone number reaches a log line."""

    def render(logger: object, name: str, event_dict: MutableMapping[str, Any]) -> Any:
        line = renderer(logger, name, event_dict)
        return mask_personal_data(line) if isinstance(line, str) else line

    return render


# What every line gets, whether it comes from structlog or from a standard-library logger.
_PRE_CHAIN: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def line_formatter(service: str, json_logs: bool = True) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter of every log line: structlog's events and standard-library records (SQLAlchemy,
    aiokafka, uvicorn, FastStream...) alike become one JSON object per line (a quote or newline in a
    message is escaped), traceback included, masked after rendering."""

    def add_service(logger: object, name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    renderer = structlog.processors.JSONRenderer(default=str, ensure_ascii=False) if json_logs else _console()
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            add_service,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _masked(renderer),
        ],
    )


def _console() -> structlog.types.Processor:
    return structlog.dev.ConsoleRenderer(colors=False)


_OWN_HANDLER = "pbi_masking_handler"


def _route_stdlib_logging(service: str, level: str, json_logs: bool) -> logging.Handler:
    """Every logger ends in one handler, the root's, with the one formatter. Loggers that libraries
    gave their own handlers (FastStream: not propagating, to stderr) are sent to the root instead."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OWN_HANDLER, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stdout)
    setattr(handler, _OWN_HANDLER, True)
    handler.setFormatter(line_formatter(service, json_logs))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.handlers:
            for own in list(logger.handlers):
                logger.removeHandler(own)
            logger.propagate = True
    # FastStream creates its access logger when a broker starts, with a handler of its own unless one
    # writing to stdout is there already: ours is.
    access = logging.getLogger("faststream.access.kafka")
    access.addHandler(handler)
    access.propagate = False
    return handler


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    structlog.configure(
        processors=[*_PRE_CHAIN, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    # Libraries log through the standard library: same level, same formatter, masked, one line each.
    _route_stdlib_logging(service, level, json_logs)
    logging.captureWarnings(True)  # a Python warning is a log line too (py.warnings), not stderr text
    for noisy in ("aiokafka", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A crash outside any logger (the interpreter's own traceback on stderr) goes through it too.
    sys.excepthook = _log_unhandled
    threading.excepthook = lambda args: _log_unhandled(args.exc_type, args.exc_value, args.exc_traceback)


def _log_unhandled(kind: type[BaseException], value: BaseException | None, tb: TracebackType | None) -> None:
    logging.getLogger("pbi.unhandled").critical("unhandled exception", exc_info=(kind, value or kind(), tb))


class RequestContext:
    """ASGI middleware for every service: each request gets a correlation id (the caller's
    `X-Correlation-ID` when it is a sane token, else a new one), bound to its log lines and echoed
    in the response, and is counted in pbi_http_requests_total."""

    def __init__(self, app: ASGIApp, service: str, api: FastAPI | None = None) -> None:
        self.app, self.service, self.api = app, service, api
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    def route_of(self, scope: Scope) -> str:
        """The route template the request was (or, when the front door answered before routing, would
        have been) served by: metrics are labelled by template, never by a path holding a NIK."""
        routed = getattr(scope.get("route"), "path", None)
        if routed:
            return str(routed)
        if self._templates is None:
            # The published paths, compiled once: FastAPI's included routers keep their routes to themselves.
            paths = self.api.openapi().get("paths", {}) if self.api is not None else {}
            self._templates = [(compile_path(path)[0], path) for path in paths]
        path = scope.get("path", "")
        return next((template for regex, template in self._templates if regex.match(path)), "unmatched")

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
                if tracing.enabled():  # routed by now; the server span ends with the response
                    tracing.use_route_template(getattr(scope.get("route"), "path", None))
            await send(message)

        if tracing.enabled():
            tracing.annotate(correlation_id=cid)
        with correlation.bound(cid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                HTTP_REQUESTS.labels(self.service, self.route_of(scope), str(status)).inc()


def _observe_duration(service: str) -> Callable[[Info], None]:
    def observe(info: Info) -> None:
        route = info.modified_handler if info.modified_handler != "none" else "unmatched"
        HTTP_DURATION.labels(service, route, info.method).observe(info.modified_duration)

    return observe


def instrument(app: FastAPI, service: str) -> None:
    """What every service's app gets: the request context above, the request-duration histogram per
    route and, when configured, tracing."""
    app.add_middleware(RequestContext, service=service, api=app)
    # No .expose(): /metrics is health_router's. Paths without a route are "unmatched", as in the counter.
    Instrumentator(should_group_untemplated=True).add(_observe_duration(service)).instrument(app)
    tracing.configure_tracing(service, app)


Check = Callable[[], Awaitable[object]]


async def _failures(checks: dict[str, Check]) -> dict[str, Exception]:
    """Each check that failed, by name, with what it raised (any failure counts)."""
    failed: dict[str, Exception] = {}
    for name, check in checks.items():
        try:
            await check()
        except Exception as exc:  # noqa: BLE001 - any failure means not alive, or not ready
            failed[name] = exc
    return failed


def health_router(checks: dict[str, Check], live: dict[str, Check] | None = None) -> APIRouter:
    """/healthz (process alive: every `live` check passes, else 503 and the orchestrator restarts it), /readyz
    (every dependency answers), /metrics (Prometheus)."""
    router = APIRouter(tags=["operations"])
    alive_checks = live or {}

    @router.get("/healthz")
    async def healthz(response: Response) -> dict[str, object]:
        if failed := await _failures(alive_checks):
            response.status_code = 503
            return {"status": "stuck", "checks": {n: mask_personal_data(str(e))[:300] for n, e in failed.items()}}
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        failed = await _failures(checks)
        results = {n: f"unavailable: {type(failed[n]).__name__}" if n in failed else "ok" for n in checks}
        response.status_code = 503 if failed else 200
        return {"status": "not ready" if failed else "ready", "checks": results}

    @router.get("/metrics")
    async def metrics(names: list[str] = Query(default=[], alias="name[]")) -> Response:
        # `?name[]=x` as prometheus_client's own exporter: only those metrics are collected, for a watcher
        # asking twice a second for one counter (make bench) without rendering every histogram each time.
        return Response(
            generate_latest(REGISTRY.restricted_registry(names) if names else REGISTRY), media_type=CONTENT_TYPE_LATEST
        )

    return router

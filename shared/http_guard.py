"""The front door of every HTTP service, as pure ASGI middleware (nothing is buffered here).

Before the app reads a byte of the body:
1. a request to a protected route must carry a known API key, else 401 (and 429 with Retry-After
   while its client address has failed too often: guessing keys costs a look-up each);
2. the body must fit its route's limit, else 413: at once when Content-Length says so, and while
   it streams in (chunked) as soon as the bytes counted pass the limit; what came is not kept.
Only then does the app see the request, with the key's principal in the scope
(shared.auth.dependencies reads it there). Early answers carry `Connection: close`, so the server
drops a connection whose body is still coming instead of draining it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problems import problem

KiB, MiB = 1024, 1024 * 1024
DEFAULT_BODY_LIMIT = 64 * KiB  # CONTRACT.md: every request but POST /v1/events
PRINCIPAL = "pbi.principal"  # where the authenticated key's principal travels in the ASGI scope
FAILURES_PER_MINUTE = 30

Authenticate = Callable[[str], Awaitable[Any]]  # the key -> its principal, or None


class BodyTooLarge(HTTPException):
    """Raised from receive() when the streamed body passes its limit. An HTTPException, so that
    FastAPI's body parsing passes it on (it turns other errors into 400) and Starlette answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit:,} bytes", headers={"Connection": "close"})


def _refusal(status: int, detail: str, **headers: str) -> JSONResponse:
    """An RFC 9457 problem (application/problem+json), as every other error of the services."""
    return problem(status, detail, {"Connection": "close", **headers})


class FrontDoor:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate | None = None,
        protected: tuple[str, ...] = (),
        body_limits: Mapping[tuple[str, str], int] | None = None,
        default_limit: int = DEFAULT_BODY_LIMIT,
        failures_per_minute: int = FAILURES_PER_MINUTE,
    ) -> None:
        self.app, self.authenticate, self.protected = app, authenticate, protected
        self.body_limits, self.default_limit = dict(body_limits or {}), default_limit
        # In memory, per replica: enough to make guessing slow; entries expire with their window.
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.failures = RateLimitItemPerMinute(failures_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.authenticate is not None and scope["path"].startswith(self.protected):
            refusal = await self._authenticate(scope, headers)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        limit = self.body_limits.get((scope["method"], scope["path"]), self.default_limit)
        declared = headers.get("content-length", "")
        if declared.isdigit() and (len(declared) > 15 or int(declared) > limit):  # (no 5,000-digit int())
            await _refusal(413, str(BodyTooLarge(limit).detail))(scope, receive, send)
            return
        await self._call_counting(scope, receive, send, limit)

    async def _authenticate(self, scope: Scope, headers: Headers) -> JSONResponse | None:
        assert self.authenticate is not None
        address = (scope.get("client") or ("unknown",))[0]
        if not await self.limiter.test(self.failures, address):
            reset_at = (await self.limiter.get_window_stats(self.failures, address)).reset_time
            wait = str(max(1, math.ceil(reset_at - time.time())))
            return _refusal(429, "too many attempts with a missing or unknown API key", **{"Retry-After": wait})
        scheme, _, key = headers.get("authorization", "").partition(" ")
        principal = await self.authenticate(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
        if principal is None:
            await self.limiter.hit(self.failures, address)
            detail = "unknown or revoked API key" if key.strip() else "missing API key (Authorization: Bearer <key>)"
            return _refusal(401, detail, **{"WWW-Authenticate": "Bearer"})
        scope[PRINCIPAL] = principal
        return None

    async def _call_counting(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            if received > limit:  # the app asks again after the refusal: it gets no more of the body
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # raised where no HTTP exception handler stood in between
            if started:
                raise
            await _refusal(413, str(exc.detail))(scope, receive, send)


# The dashboard runs only its own files: no inline script, no other origin, never inside a frame.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Browser protections on every response (no framing, no referrer, no type sniffing), and a
    Content-Security-Policy on the paths under `csp_prefix` (not /docs: Swagger UI needs inline script)."""

    def __init__(self, app: ASGIApp, csp_prefix: str = "/dashboard", csp: str = DASHBOARD_CSP) -> None:
        self.app, self.csp_prefix, self.csp = app, csp_prefix, csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with_csp = scope["path"].startswith(self.csp_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Content-Type-Options"] = "nosniff"
                if with_csp:
                    headers["Content-Security-Policy"] = self.csp
            await send(message)

        await self.app(scope, receive, send_with_headers)

"""The front door (shared.http_guard) driven as raw ASGI, the way a server drives it: the key is
checked and the size limited before the app reads the body, for bodies announced by Content-Length
and for chunked bodies that never end; failed attempts are rate-limited per client address."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Body, Depends, FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from shared.auth import Principal
from shared.auth.dependencies import require_any_scope
from shared.http_guard import FrontDoor, KiB, MiB, SecurityHeaders

GOOD = "pbi_0123456789ab_" + "s" * 43
PRINCIPAL = Principal("0123456789ab", "feed", frozenset({"events:write"}))


class Item(BaseModel):
    name: str


def make_app(failures_per_minute: int = 30) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/events")
    async def events(body: Any = Body(), who: Principal = Depends(require_any_scope("events:write"))) -> dict:
        return {"who": who.name, "size": len(json.dumps(body))}

    @app.post("/v1/items")
    async def items(item: Item, who: Principal = Depends(require_any_scope("events:write"))) -> dict:
        return {"who": who.name}

    @app.post("/open")
    async def open_route(body: Any = Body()) -> dict:
        return {"ok": True}

    async def authenticate(key: str) -> Principal | None:
        return PRINCIPAL if key == GOOD else None

    app.add_middleware(
        FrontDoor,
        authenticate=authenticate,
        protected=("/v1/",),
        body_limits={("POST", "/v1/events"): 1 * MiB},
        failures_per_minute=failures_per_minute,
    )
    app.add_middleware(SecurityHeaders)
    return app


class Body_:
    """A request body as the server hands it over: chunks, counted as the app takes them."""

    def __init__(self, chunks: Callable[[int], bytes | None]) -> None:
        self.chunks, self.taken, self.bytes_taken = chunks, 0, 0

    async def receive(self) -> dict[str, Any]:
        chunk = self.chunks(self.taken)
        self.taken += 1
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.bytes_taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}


def endless(size: int = 64 * KiB) -> Body_:
    block = b"x" * size
    return Body_(lambda i: block)  # a chunked body that never ends


def whole(data: bytes) -> Body_:
    return Body_(lambda i: data if i == 0 else None)


async def call(
    app: Callable[..., Awaitable[None]],
    path: str,
    body: Body_,
    key: str | None = None,
    content_length: int | None = None,
    client: str = "10.0.0.1",
) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = [(b"content-type", b"application/json")]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (client, 40000),
        "server": ("127.0.0.1", 8080),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, body.receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    hdrs = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], hdrs, json.loads(text) if text else {}


async def test_no_key_with_invalid_json_is_401_and_the_body_is_never_read() -> None:
    body = whole(b"{not json")
    status, headers, _ = await call(make_app(), "/v1/events", body)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert body.taken == 0


async def test_unknown_and_malformed_keys_are_401_before_the_body() -> None:
    for key in ("pbi_0123456789ab_" + "t" * 43, "nonsense", ""):
        body = endless()
        status, _, _ = await call(make_app(), "/v1/events", body, key=key)
        assert status == 401 and body.taken == 0, key


async def test_endless_chunked_body_without_a_key_is_401_and_the_connection_closes() -> None:
    body = endless()
    status, headers, _ = await call(make_app(), "/v1/events", body)
    assert (status, headers["connection"], body.taken) == (401, "close", 0)


async def test_oversized_content_length_is_413_before_reading() -> None:
    body = endless()
    status, headers, _ = await call(make_app(), "/v1/events", body, key=GOOD, content_length=1 * MiB + 1)
    assert (status, headers["connection"], body.taken) == (413, "close", 0)


async def test_endless_chunked_body_is_cut_at_the_limit() -> None:
    body = endless(64 * KiB)
    status, headers, _ = await call(make_app(), "/v1/events", body, key=GOOD)
    assert status == 413 and headers["connection"] == "close"
    assert body.bytes_taken <= 1 * MiB + 64 * KiB  # stopped reading one chunk past the limit


async def test_other_routes_have_the_64_kib_limit_and_events_the_bigger_one() -> None:
    small_enough = json.dumps({"pad": "x" * (60 * KiB)}).encode()
    assert (await call(make_app(), "/v1/events", whole(small_enough), key=GOOD))[0] == 200
    big = json.dumps({"pad": "x" * (200 * KiB)}).encode()
    assert (await call(make_app(), "/v1/events", whole(big), key=GOOD))[0] == 200
    assert (await call(make_app(), "/v1/items", whole(big), key=GOOD))[0] == 413
    assert (await call(make_app(), "/open", endless(), key=None))[0] == 413  # unprotected: size only


async def test_order_is_401_then_413_then_422() -> None:
    oversized = 2 * MiB
    assert (await call(make_app(), "/v1/events", endless(), content_length=oversized))[0] == 401
    assert (await call(make_app(), "/v1/events", endless(), key=GOOD, content_length=oversized))[0] == 413
    assert (await call(make_app(), "/v1/events", whole(b"{not json"), key=GOOD))[0] == 422


async def test_the_principal_checked_at_the_door_reaches_the_route() -> None:
    status, _, answer = await call(make_app(), "/v1/items", whole(b'{"name": "a"}'), key=GOOD)
    assert (status, answer) == (200, {"who": "feed"})


async def test_failed_attempts_are_rate_limited_per_address_with_retry_after() -> None:
    app = make_app(failures_per_minute=3)
    for _ in range(3):
        assert (await call(app, "/v1/items", whole(b"{}"), key="pbi_bad", client="10.0.0.9"))[0] == 401
    status, headers, _ = await call(app, "/v1/items", whole(b"{}"), key=GOOD, client="10.0.0.9")
    assert status == 429 and 1 <= int(headers["retry-after"]) <= 60
    assert (await call(app, "/v1/items", whole(b'{"name": "a"}'), key=GOOD, client="10.0.0.10"))[0] == 200


async def test_successful_requests_do_not_count_towards_the_limit() -> None:
    app = make_app(failures_per_minute=2)
    for _ in range(5):
        assert (await call(app, "/v1/items", whole(b'{"name": "a"}'), key=GOOD))[0] == 200


async def test_security_headers_and_csp_on_the_dashboard_only() -> None:
    app = make_app()
    _, headers, _ = await call(app, "/open", whole(b"{}"))
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in headers
    _, headers, _ = await call(app, "/dashboard", whole(b""))
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=48 * KiB), min_size=1, max_size=40),
    announce=st.booleans(),
)
@settings(max_examples=60, deadline=None)
async def test_any_body_is_taken_whole_within_the_limit_and_refused_past_it(sizes: list[int], announce: bool) -> None:
    """Whatever the chunking: 413 exactly when the body passes 64 KiB, and the app is never handed
    more than the limit plus the chunk that crossed it."""
    total = sum(sizes)
    body = Body_(lambda i: b" " * sizes[i] if i < len(sizes) else None)
    status, _, _ = await call(make_app(), "/open", body, content_length=total if announce else None)
    if total > 64 * KiB:
        assert status == 413
    else:  # (spaces are not JSON: the route answers 422, having read every byte)
        assert status != 413 and body.bytes_taken == total
    assert body.bytes_taken <= 64 * KiB + max(sizes)
    if announce and total > 64 * KiB:
        assert body.taken == 0  # refused on Content-Length alone

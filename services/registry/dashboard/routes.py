"""HTTP routes of the dashboard: the page, its static files, and a Server-Sent Events stream of
snapshots (sent at once, then whenever the snapshot changes, checked every second).

One snapshot per tick serves every viewer (SnapshotHub), a stream ends within the key cache's
5 s once its key is revoked, and one key holds at most MAX_STREAMS_PER_KEY streams at a time."""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from shared.auth import Principal
from shared.auth.dependencies import require_any_scope

STATIC = Path(__file__).parent / "static"
SCOPE = "dashboard:read"
MAX_STREAMS_PER_KEY = 5  # a control room's screens; more is a leak or an attack
Snapshot = Callable[[], Awaitable[dict[str, Any]]]
StillAllowed = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Frame:
    snapshot: dict[str, Any]
    fingerprint: str  # the snapshot without its timestamp: equal means nothing changed
    data: str  # the Server-Sent Events frame, encoded once for every viewer


class SnapshotHub:
    """Computes the snapshot at most once per interval, whoever asks: a room full of dashboards costs
    the database what one dashboard costs."""

    def __init__(self, compute: Snapshot, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.compute, self.interval_s, self.clock = compute, interval_s, clock
        self._frame: Frame | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def frame(self) -> Frame:
        async with self._lock:  # viewers arriving meanwhile wait for this computation, not their own
            if self._frame is None or self.clock() - self._at >= self.interval_s:
                current = await self.compute()
                fingerprint = json.dumps({**current, "generated_at": None}, default=str, sort_keys=True)
                self._frame = Frame(current, fingerprint, f"data: {json.dumps(current, default=str)}\n\n")
                self._at = self.clock()
            return self._frame


async def live(
    hub: SnapshotHub, still_allowed: StillAllowed, disconnected: StillAllowed, interval_s: float
) -> AsyncIterator[str]:
    """The stream of one viewer: a frame when the snapshot changed, else a keep-alive; it ends when
    the viewer goes or its key no longer may read the dashboard (revoked: within the key cache's 5 s)."""
    last = None
    while not await disconnected() and await still_allowed():
        frame = await hub.frame()
        if frame.fingerprint != last:
            last = frame.fingerprint
            yield frame.data
        else:
            yield ": keep-alive\n\n"
        await asyncio.sleep(interval_s)


def mount_dashboard(app: FastAPI, snapshot: Snapshot, interval_s: float = 1.0) -> None:
    router = APIRouter(tags=["dashboard"])
    can_read = require_any_scope(SCOPE)
    hub = SnapshotHub(snapshot, interval_s)
    streams: Counter[str] = Counter()  # open streams per key id
    app.state.dashboard_hub, app.state.dashboard_streams = hub, streams

    @router.get("/dashboard", include_in_schema=False)
    async def page() -> FileResponse:
        # The page itself holds no data: it asks for a key and then reads the authenticated stream.
        return FileResponse(STATIC / "dashboard.html", headers={"Cache-Control": "no-store"})

    @router.get("/dashboard/snapshot", dependencies=[Depends(can_read)])
    async def current() -> dict[str, Any]:
        return (await hub.frame()).snapshot

    @router.get("/dashboard/me")
    async def me(principal: Principal = Depends(can_read)) -> dict[str, Any]:
        # What the page may offer this key (the worklist's done button needs worklist:write); the
        # API checks every call itself, this only spares people buttons that would answer 403.
        region = getattr(principal, "region", (None, None))  # a key bound to a province / regency
        return {"name": principal.name, "scopes": sorted(principal.scopes), "region": list(region)}

    @router.get("/dashboard/events")
    async def events(request: Request, principal: Principal = Depends(can_read)) -> StreamingResponse:
        if streams[principal.key_id] >= MAX_STREAMS_PER_KEY:
            raise HTTPException(
                429, f"this key already has {MAX_STREAMS_PER_KEY} live streams open", headers={"Retry-After": "5"}
            )
        key = request.headers.get("authorization", "").partition(" ")[2].strip()

        async def still_allowed() -> bool:
            again = await request.app.state.api_keys.authenticate(key)
            return again is not None and SCOPE in again.scopes

        async def stream() -> AsyncIterator[str]:
            try:
                async for chunk in live(hub, still_allowed, request.is_disconnected, interval_s):
                    yield chunk
            finally:
                released()

        def release(key_id: str) -> None:
            streams[key_id] -= 1
            if streams[key_id] <= 0:
                del streams[key_id]

        streams[principal.key_id] += 1
        body = stream()
        # Released once: when the stream ends, or when it is dropped without ever starting.
        released = weakref.finalize(body, release, principal.key_id)
        return StreamingResponse(
            body, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")

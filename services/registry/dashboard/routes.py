"""HTTP routes of the dashboard: the page, its static files, and a Server-Sent Events stream of
snapshots (sent at once, then whenever the snapshot changes, checked every second)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from shared.auth.dependencies import require_any_scope

STATIC = Path(__file__).parent / "static"
Snapshot = Callable[[], Awaitable[dict[str, Any]]]


def mount_dashboard(app: FastAPI, snapshot: Snapshot, interval_s: float = 1.0) -> None:
    router = APIRouter(tags=["dashboard"])
    can_read = require_any_scope("dashboard:read")

    @router.get("/dashboard", include_in_schema=False)
    async def page() -> FileResponse:
        # The page itself holds no data: it asks for a key and then reads the authenticated stream.
        return FileResponse(STATIC / "dashboard.html", headers={"Cache-Control": "no-store"})

    @router.get("/dashboard/snapshot", dependencies=[Depends(can_read)])
    async def current() -> dict[str, Any]:
        return await snapshot()

    @router.get("/dashboard/events", dependencies=[Depends(can_read)])
    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            last = None
            while not await request.is_disconnected():
                current = await snapshot()
                # Compare without the timestamp: only real changes are pushed.
                fingerprint = json.dumps({**current, "generated_at": None}, default=str, sort_keys=True)
                if fingerprint != last:
                    last = fingerprint
                    yield f"data: {json.dumps(current, default=str)}\n\n"
                else:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(interval_s)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")

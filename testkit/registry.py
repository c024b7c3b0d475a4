"""The registry's tables as integration tests read them: which events it processed, a request's worklist items."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.registry.store import PE, W
from shared.db import make_engine
from shared.events import Event
from shared.settings import Settings


async def events_seen(settings: Settings, events: list[Event]) -> bool:
    """Whether the registry has processed every one of `events`."""
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            ids = [e.event_id for e in events]
            found = (await conn.execute(select(PE.c.event_id).where(PE.c.event_id.in_(ids)))).all()
    finally:
        await engine.dispose()
    return len(found) == len({e.event_id for e in events})


async def worklist_items(settings: Settings, rid: uuid.UUID) -> list[dict[str, Any]]:
    """Request `rid`'s worklist items, by kind."""
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(W).where(W.c.request_id == rid).order_by(W.c.kind))).mappings().all()
    finally:
        await engine.dispose()
    return [dict(r) for r in rows]

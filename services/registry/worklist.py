"""Worklist items in the registry's schema: opened by the decisions batch (same transaction), listed for
operations (issue 21 puts the HTTP API on list_items)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from services.registry import metrics
from services.registry.domain.worklist import FINAL, WorkItem, item_id
from services.registry.store import RQ, W
from shared.db import any_of
from shared.enums import WorklistKind, WorklistState

SYSTEM = "system:decision"


async def record(
    session: AsyncSession, opened: dict[uuid.UUID, WorkItem], released: dict[uuid.UUID, tuple[dt.datetime, str]]
) -> None:
    """Open the batch's items (each once: an item already there is left as it is), then mark the
    EMERGENCY_HELD items of finally decided emergencies done. Runs after the batch's decisions are
    written, so a PENDING that arrives after its request's final decision opens nothing."""
    held = [i.request_id for i in opened.values() if i.kind is WorklistKind.EMERGENCY_HELD]
    if held:
        decided = set(
            (
                await session.execute(
                    select(RQ.c.request_id).where(any_of(RQ.c.request_id, held), RQ.c.status.in_(sorted(FINAL)))
                )
            ).scalars()
        )
        opened = {
            k: i for k, i in opened.items() if i.kind is not WorklistKind.EMERGENCY_HELD or i.request_id not in decided
        }
    if opened:
        rows = [_row(i) for i in opened.values()]
        stmt = insert(W).values(rows).on_conflict_do_nothing(index_elements=["item_id"]).returning(W.c.kind)
        for kind in (await session.execute(stmt)).scalars():
            metrics.WORKLIST_OPENED.labels(kind).inc()
    for request_id, (at, outcome) in released.items():
        await session.execute(
            update(W)
            .where(W.c.item_id == item_id(request_id, WorklistKind.EMERGENCY_HELD), W.c.state == WorklistState.OPEN)
            .values(state=WorklistState.DONE, closed_by=SYSTEM, closed_at=at, note=f"decided {outcome}")
        )


def _row(i: WorkItem) -> dict[str, Any]:
    return {
        "item_id": i.item_id,
        "kind": i.kind.value,
        "nik": i.nik,
        "request_id": i.request_id,
        "province": i.region[0],
        "regency": i.region[1],
        "district": i.region[2],
        "opened_at": i.opened_at,
        "due_at": i.due_at,
        "state": WorklistState.OPEN.value,
    }


async def list_items(
    engine: AsyncEngine | AsyncConnection,
    *,
    kind: str | None = None,
    province: str | None = None,
    regency: str | None = None,
    district: str | None = None,
    state: str | None = WorklistState.OPEN,
    limit: int = 100,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """Items newest due first (then by id), filtered; `after` is the (due_at, item_id) of the last item
    of the previous page (keyset pagination). The NIK is whole here: the API masks it."""
    q = select(W)
    filters = ((W.c.kind, kind), (W.c.province, province), (W.c.regency, regency), (W.c.district, district))
    for column, value in (*filters, (W.c.state, state)):
        if value is not None:
            q = q.where(column == value)
    if after is not None:
        due, last = after
        q = q.where(or_(W.c.due_at < due, and_(W.c.due_at == due, W.c.item_id > last)))
    q = q.order_by(W.c.due_at.desc().nulls_last(), W.c.item_id).limit(limit)
    if isinstance(engine, AsyncConnection):
        return [dict(r) for r in (await engine.execute(q)).mappings()]
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(q)).mappings()]

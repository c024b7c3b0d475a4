"""Worklist items in the registry's schema: opened and closed by the consumers' batches (same transaction
as the facts and decisions that cause it), listed and marked done for operations (worklist_api.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    String,
    TextClause,
    Uuid,
    and_,
    bindparam,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy import (
    column as sa_column,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from services.registry import metrics
from services.registry.domain.worklist import (
    EMERGENCY_KINDS,
    FINAL,
    WAITING_KINDS,
    Satisfied,
    WorkItem,
    item_id,
    listed_again,
)
from services.registry.store import W
from shared.columns import columns, parts
from shared.enums import WorklistKind, WorklistState

SYSTEM = "system:decision"


async def record(
    session: AsyncSession, opened: dict[uuid.UUID, WorkItem], released: dict[uuid.UUID, tuple[dt.datetime, str]]
) -> None:
    """Open the batch's items (each once: an item already there is left as it is), then mark done what
    the batch's final decisions settle: an emergency's EMERGENCY_HELD and SLA_BREACHED, and what a
    PENDING request waited for (unless the final decision lists it again as a follow-up). Runs after the
    batch's decisions are written, so a PENDING (or a breach) that arrives after its request's final
    decision opens nothing."""
    if opened:
        # unnest arrays, not VALUES: a burst of decisions opens thousands of items, and a VALUES list
        # of 10 columns passes asyncpg's 32,767-argument limit at 3,277 (the batch then failed forever).
        items = list(opened.values())
        values = {
            "item_id": [i.item_id for i in items],
            "kind": [i.kind for i in items],
            "nik": [i.nik for i in items],
            "request_id": [i.request_id for i in items],
            "province": [i.region[0] for i in items],
            "regency": [i.region[1] for i in items],
            "district": [i.region[2] for i in items],
            "opened_at": [i.opened_at for i in items],
            "due_at": [i.due_at for i in items],
            "held": [i.kind in EMERGENCY_KINDS or i.waiting for i in items],
        }
        batch = columns(_OPENING, values)
        inserted = Counter((await session.execute(_open(batch.modes), batch.params)).scalars())
        for kind, n in inserted.items():
            metrics.WORKLIST_OPENED.labels(kind).inc(n)
    kept = listed_again(opened)
    settled = [
        (item, at, f"decided {outcome}")
        for request_id, (at, outcome) in released.items()
        for kind in _SETTLED_KINDS
        if (item := item_id(request_id, kind)) not in kept
    ]
    if settled:
        ids, ats, notes = zip(*settled, strict=True)
        closed = await session.execute(
            _SETTLE, {"ids": list(ids), "ats": list(ats), "notes": list(notes), "by": SYSTEM}
        )
        for kind, n in Counter(closed.scalars()).items():
            metrics.WORKLIST_CLOSED.labels(kind, SYSTEM).inc(n)


_SETTLED_KINDS = sorted(EMERGENCY_KINDS | WAITING_KINDS)
# One statement for the batch's items, each once; an emergency's item or one a PENDING waited for (`held`)
# only while its request is not finally decided (the decisions of the batch are written by then). Each column
# travels as cheaply as its values allow (shared.columns: a batch's kinds, times and regions are few).
_OPENING = table(
    W.name,
    *(sa_column(c.name, c.type) for c in W.c if c.name not in ("state", "closed_by", "closed_at", "note")),
    sa_column("held", Boolean()),
    schema=W.schema,
)
_OPENED = tuple(_OPENING.c.keys())


@lru_cache(maxsize=32)
def _open(modes: tuple[str, ...]) -> TextClause:
    values, source = parts(_OPENING, _OPENED, modes)
    cell = dict(zip(_OPENED, values, strict=True))
    finals = ", ".join(repr(str(o)) for o in sorted(FINAL))
    return text(
        f"insert into {W.schema}.{W.name} ({', '.join(_OPENED[:-1])}, state) "
        f"select {', '.join(values[:-1])}, 'OPEN' from {source} "
        f"where not ({cell['held']} and exists (select from registry.requests r "
        f"where r.request_id = {cell['request_id']} and r.status in ({finals}))) "
        "on conflict (item_id) do nothing returning kind"
    )


# One statement for every final decision of the batch (a wave's batch holds thousands): by item id,
# derived from (request, kind), so the primary key finds them.
_SETTLE = text(
    "update registry.worklist_items w set state = 'DONE', closed_by = :by, closed_at = f.at, note = f.note "
    "from unnest(:ids, :ats, :notes) as f(item_id, at, note) "
    "where w.item_id = any(:ids) and w.item_id = f.item_id and w.state = 'OPEN' returning w.kind"
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid)),
    bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
    bindparam("notes", type_=ARRAY(String)),
)


# One statement per kind and batch: every open item of that kind of the batch's people, opened no later
# than its fact allows (the partial index on open items by NIK and kind finds them).
_CLOSE = text(
    "update registry.worklist_items w set state = 'DONE', closed_by = :by, closed_at = :at, note = f.note "
    "from unnest(:niks, :untils, :notes) as f(nik, until, note) "
    # `nik = any(:niks)` lets the planner probe the partial index per person; the join alone reads every
    # open item of the kind (EXPLAIN at 200,000 open items: an index scan of the batch's 2,312 instead of
    # a bitmap scan of 66,667).
    "where w.nik = any(:niks) and w.nik = f.nik and w.kind = :kind and w.state = 'OPEN' and w.opened_at <= f.until "
    "returning w.item_id"
).bindparams(
    bindparam("niks", type_=ARRAY(String)),
    bindparam("untils", type_=ARRAY(DateTime(timezone=True))),
    bindparam("notes", type_=ARRAY(String)),
)


async def close_satisfied(
    session: AsyncSession, closing: dict[tuple[str, WorklistKind], Satisfied], at: dt.datetime
) -> None:
    """Close the open items the batch's facts satisfied, each once (an item already DONE is left as it
    is, so a redelivered or repeated fact changes nothing): closed_by `system:<event type>`."""
    by_kind: dict[WorklistKind, list[tuple[str, Satisfied]]] = {}
    for (nik, kind), fact in closing.items():
        by_kind.setdefault(kind, []).append((nik, fact))
    for kind, facts in by_kind.items():
        by = f"system:{facts[0][1].by}"
        params = {
            "niks": [n for n, _ in facts],
            "untils": [f.opened_by for _, f in facts],
            "notes": [f.note for _, f in facts],
            "by": by,
            "at": at,
            "kind": kind.value,
        }
        closed = (await session.execute(_CLOSE, params)).all()
        if closed:
            metrics.WORKLIST_CLOSED.labels(kind.value, by).inc(len(closed))


class WorklistOrder(StrEnum):
    """The order of GET /v1/worklist (`order=`); then by item id, items with no due time last either way."""

    NEWEST_DUE = "newest_due"  # the contract's default: the latest due first
    OLDEST_DUE = "oldest_due"  # overdue first, the longest overdue at the top, then the soonest due


async def list_items(
    engine: AsyncEngine | AsyncConnection,
    *,
    kind: str | None = None,
    province: str | None = None,
    regency: str | None = None,
    district: str | None = None,
    state: str | None = WorklistState.OPEN,
    limit: int = 100,
    after: tuple[dt.datetime | None, uuid.UUID] | None = None,
    order: WorklistOrder = WorklistOrder.NEWEST_DUE,
) -> list[dict[str, Any]]:
    """Items in `order` (newest due first by default), filtered; `after` is the (due_at, item_id) of the
    last item of the previous page in the same order (keyset pagination). The NIK is whole here: the API
    masks it. A page that must stop somewhere (the dashboard reads 2,000 items) keeps the overdue ones
    with OLDEST_DUE."""
    q = select(W)
    filters = ((W.c.kind, kind), (W.c.province, province), (W.c.regency, regency), (W.c.district, district))
    for column, value in (*filters, (W.c.state, state)):
        if value is not None:
            q = q.where(column == value)
    newest = order is WorklistOrder.NEWEST_DUE
    if after is not None:
        due, last = after
        if due is None:
            q = q.where(W.c.due_at.is_(None), W.c.item_id > last)
        else:
            beyond = W.c.due_at < due if newest else W.c.due_at > due
            q = q.where(or_(beyond, and_(W.c.due_at == due, W.c.item_id > last), W.c.due_at.is_(None)))
    by_due = W.c.due_at.desc() if newest else W.c.due_at.asc()
    q = q.order_by(by_due.nulls_last(), W.c.item_id).limit(limit)
    return await _rows(engine, q)


async def get_item(engine: AsyncEngine | AsyncConnection, item: uuid.UUID) -> dict[str, Any] | None:
    found = await _rows(engine, select(W).where(W.c.item_id == item))
    return found[0] if found else None


async def mark_done(
    engine: AsyncEngine, item: uuid.UUID, closed_by: str, note: str | None, at: dt.datetime
) -> dict[str, Any] | None:
    """Close an item by hand; an item already DONE keeps who closed it and when (done twice is harmless).
    None: no such item."""
    async with engine.begin() as conn:
        closed = await conn.execute(
            update(W)
            .where(W.c.item_id == item, W.c.state == WorklistState.OPEN)
            .values(state=WorklistState.DONE, closed_by=closed_by, closed_at=at, note=note)
            .returning(W.c.kind)
        )
        for kind in closed.scalars():
            metrics.WORKLIST_CLOSED.labels(kind, "person").inc()
        return await get_item(conn, item)


async def _rows(engine: AsyncEngine | AsyncConnection, q: Any) -> list[dict[str, Any]]:
    if isinstance(engine, AsyncConnection):
        return [dict(r) for r in (await engine.execute(q)).mappings()]
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(q)).mappings()]


async def close_appeals(session: AsyncSession, decided: dict[uuid.UUID, tuple[dt.datetime, str]]) -> None:
    """APPEAL_REVIEW items of appeals upheld or dismissed: done (closed_by system:appeal); runs after the
    batch's items are opened, so an appeal opened and decided in one batch ends DONE."""
    for request_id, (at, status) in decided.items():
        closed = await session.execute(
            update(W)
            .where(W.c.item_id == item_id(request_id, WorklistKind.APPEAL_REVIEW), W.c.state == WorklistState.OPEN)
            .values(state=WorklistState.DONE, closed_by=APPEAL_SYSTEM, closed_at=at, note=f"appeal {status}")
            .returning(W.c.kind)
        )
        for kind in closed.scalars():
            metrics.WORKLIST_CLOSED.labels(kind, APPEAL_SYSTEM).inc()


APPEAL_SYSTEM = "system:appeal"

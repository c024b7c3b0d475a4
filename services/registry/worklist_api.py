"""The operations worklist over HTTP (CONTRACT.md, operations worklist): list items, mark one done.

A key bound to a region (shared.auth.region) sees and closes only its region's items: a filter naming
another region is 403 (the key may not ask), an item of another region is 404 (as if it did not
exist: a key learns nothing about other regions' items, not even that an id is taken)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from services.registry import worklist
from services.registry.worklist import WorklistOrder
from shared.auth import Principal
from shared.auth.dependencies import require_any_scope
from shared.auth.scopes import WORKLIST_READ, WORKLIST_WRITE
from shared.enums import WorklistKind, WorklistState
from shared.nik import mask_nik
from shared.regions import PROVINCES, REGENCIES

router = APIRouter(tags=["worklist"])
can_read = require_any_scope(WORKLIST_READ)
can_write = require_any_scope(WORKLIST_WRITE)
NOT_FOUND = "no worklist item with this id (in this key's region)"


class Done(BaseModel):
    note: Annotated[str, Field(max_length=500)] | None = None


def item_view(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """What the API shows of an item: the NIK masked, the region by name."""
    due = row["due_at"]
    return {
        "item_id": row["item_id"],
        "kind": row["kind"],
        "nik": mask_nik(row["nik"]),
        "request_id": row["request_id"],
        "region": {"province": row["province"], "regency": row["regency"], "district": row["district"]},
        "opened_at": row["opened_at"],
        "due_at": due,
        "overdue": row["state"] == WorklistState.OPEN and due is not None and due < now,
        "state": row["state"],
        "closed_by": row["closed_by"],
        "closed_at": row["closed_at"],
        "note": row["note"],
    }


def encode_cursor(row: dict[str, Any], order: WorklistOrder = WorklistOrder.NEWEST_DUE) -> str:
    """The last item's place and the order it is a place in."""
    due = row["due_at"].isoformat() if row["due_at"] is not None else ""
    return base64.urlsafe_b64encode(f"{due}|{row['item_id']}|{order.value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: WorklistOrder = WorklistOrder.NEWEST_DUE) -> tuple[dt.datetime | None, uuid.UUID]:
    """(due_at, item_id) of the previous page's last item; 422 for a cursor this API did not give, or one
    given for another order (its place means nothing there). A cursor without an order is newest_due's."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        due, last, *given = raw.split("|")
        place = (dt.datetime.fromisoformat(due) if due else None), uuid.UUID(last)
        given_order = WorklistOrder(*given) if given else WorklistOrder.NEWEST_DUE
    except (ValueError, TypeError) as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        raise HTTPException(422, "cursor: not one this API gave (use the `next` of the previous page)") from exc
    if given_order is not order:
        raise HTTPException(422, f"cursor: given for order={given_order.value}; ask with the same order")
    return place


def by_name(province: str | None, regency: str | None) -> tuple[str | None, str | None]:
    """Filters name regions as the items do ('Banten'); a Kemendagri code ('36', '36.74') is taken too."""
    if province and province.isdigit():
        province = PROVINCES.get(province, province)
    code = regency.replace(".", "") if regency else None
    if code and code.isdigit():
        regency = REGENCIES[code][1] if code in REGENCIES else regency
    return province, regency


def bound_filters(principal: Principal, province: str | None, regency: str | None) -> tuple[str | None, str | None]:
    """The region filters a key may use: its own region whatever it asks, 403 for another one."""
    province, regency = by_name(province, regency)
    bound_province, bound_regency = principal.region
    if bound_province is not None and province not in (None, bound_province):
        raise HTTPException(403, f"this key is bound to {bound_province}")
    if bound_regency is not None and regency not in (None, bound_regency):
        raise HTTPException(403, f"this key is bound to {bound_regency}")
    return bound_province or province, bound_regency or regency


def in_region(principal: Principal, row: dict[str, Any]) -> bool:
    province, regency = principal.region
    return province in (None, row["province"]) and regency in (None, row["regency"])


def _now(request: Request) -> dt.datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock else dt.datetime.now(dt.UTC)


@router.get("/v1/worklist")
async def get_worklist(
    request: Request,
    principal: Principal = Depends(can_read),
    kind: WorklistKind | None = None,
    province: str | None = None,
    regency: str | None = None,
    district: str | None = None,
    state: WorklistState = WorklistState.OPEN,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
    order: Annotated[
        WorklistOrder,
        Query(description="newest_due (default): latest due first; oldest_due: overdue first, then soonest due"),
    ] = WorklistOrder.NEWEST_DUE,
) -> dict[str, Any]:
    """Items newest due first, or with `order=oldest_due` overdue first (the longest overdue at the top), then
    the soonest due; items with no due time last. `next` is the cursor of the following page (null on the last
    one), to be asked with the same filters and order."""
    province, regency = bound_filters(principal, province, regency)
    rows = await worklist.list_items(
        request.app.state.engine,
        kind=kind,
        province=province,
        regency=regency,
        district=district,
        state=state,
        limit=limit + 1,  # one more tells whether a next page exists
        after=decode_cursor(cursor, order) if cursor else None,
        order=order,
    )
    now = _now(request)
    page = rows[:limit]
    return {
        "items": [item_view(r, now) for r in page],
        "next": encode_cursor(page[-1], order) if len(rows) > limit else None,
    }


@router.post("/v1/worklist/{item_id}/done")
async def mark_done(
    item_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(can_write),
    body: Annotated[Done | None, Body()] = None,
) -> dict[str, Any]:
    """200 with the item, closed by this key; an item already done is answered as it is."""
    engine = request.app.state.engine
    found = await worklist.get_item(engine, item_id)
    if found is None or not in_region(principal, found):
        raise HTTPException(404, NOT_FOUND)
    now = _now(request)
    closed_by = f"key:{principal.key_id} {principal.name}"[:200]
    row = await worklist.mark_done(engine, item_id, closed_by, body.note if body else None, now)
    if row is None:  # pragma: no cover - items are never deleted
        raise HTTPException(404, NOT_FOUND)
    return item_view(row, now)

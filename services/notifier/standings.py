"""Standings in the database: folded from each batch of consumed events (handlers) and read by CEK."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ARRAY, String, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.domain.standing import Standing, concerns, creates, fold
from services.notifier.store import ST
from shared.db import any_of, bulk_insert, upsert_clause
from shared.enums import ParticipantStatus
from shared.events import AnyEvent

FIELDS = [f.name for f in dataclasses.fields(Standing)]
# Rows for people seen for the first time are created first (sorted: two batches never wait on each
# other in opposite orders), so that every one of the batch's rows can then be locked and folded.
_CREATE = text(
    f"insert into {ST.schema}.{ST.name} (nik, reasons, follow_ups, biometric_recorded, nik_conflict_resolved, "
    "id_semesta, deceased, request_open) select n, '{}', '{}', false, false, false, false, false "
    "from unnest(cast(:niks as varchar[])) as n on conflict do nothing"
).bindparams(bindparam("niks", type_=ARRAY(String)))


def to_standing(row: Any) -> Standing:
    values = {name: row[name] for name in FIELDS}
    values["status"] = ParticipantStatus(row["status"]) if row["status"] else None
    values["reasons"], values["follow_ups"] = tuple(row["reasons"]), tuple(row["follow_ups"])
    values["request_ids"] = tuple(row["request_ids"] or ())  # NULL on rows from before revision 0006
    return Standing(**values)


def to_row(s: Standing) -> dict[str, Any]:
    row = {name: getattr(s, name) for name in FIELDS}  # (dataclasses.asdict deep-copies: 1 ms a row)
    row["status"] = s.status.value if s.status else None
    row["reasons"], row["follow_ups"] = list(s.reasons), list(s.follow_ups)
    row["request_ids"] = list(s.request_ids)
    return row


async def load(session: AsyncSession, niks: Iterable[str], *, lock: bool = False) -> dict[str, Standing]:
    query = select(ST).where(any_of(ST.c.nik, sorted(set(niks)))).order_by(ST.c.nik)
    rows = (await session.execute(query.with_for_update() if lock else query)).mappings()
    return {r["nik"]: to_standing(r) for r in rows}


async def apply(session: AsyncSession, events: Sequence[AnyEvent]) -> None:
    """Fold a batch's fresh events into the standings: three statements per batch whatever its size."""
    relevant = [e for e in events if concerns(e)]
    if not relevant:
        return
    await session.execute(_CREATE, {"niks": sorted({e.nik for e in relevant if creates(e)})})
    known = await load(session, {e.nik for e in relevant}, lock=True)
    current: dict[str, Standing | None] = dict(known)
    for event in relevant:
        current[event.nik] = fold(current.get(event.nik), event)
    changed = [to_row(s) for nik, s in current.items() if s is not None and s != known.get(nik)]
    await bulk_insert(session, ST, changed, upsert_clause("nik", FIELDS))

"""Standings in the database: rows to and from domain/standing.py, read by CEK (inbound.py) and by the
unit of work (uow.py), which the handlers fold each batch of consumed events through."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.domain.standing import Standing
from services.notifier.store import ST
from shared.db import any_of
from shared.enums import ParticipantStatus

FIELDS = [f.name for f in dataclasses.fields(Standing)]


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

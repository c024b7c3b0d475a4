"""People in the database (`notifier.contacts`, a row each): rows to and from domain/people.py, read by CEK
(inbound.py: the standing) and by the unit of work (uow.py), which the handlers fold each batch of consumed
events through."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person
from services.notifier.domain.standing import Standing
from services.notifier.store import C
from shared.db import any_of
from shared.enums import ParticipantStatus

FIELDS = [f.name for f in dataclasses.fields(Standing)]
CONTACT = ["phone", "opted_out", "on_whatsapp"]
COLUMNS = FIELDS + CONTACT  # every column of a contacts row
_STATUS = {s.value: s for s in ParticipantStatus}


def to_standing(row: Any) -> Standing:
    values = {name: row[name] for name in FIELDS}
    values["status"] = _STATUS[row["status"]] if row["status"] else None
    values["reasons"], values["follow_ups"] = tuple(row["reasons"]), tuple(row["follow_ups"])
    values["request_ids"] = tuple(row["request_ids"] or ())
    return Standing(**values)


def to_person(row: Any) -> Person:
    return Person(OnFile(row["phone"], row["opted_out"], row["on_whatsapp"]), to_standing(row))


def to_row(p: Person) -> dict[str, Any]:
    s, c = p.standing, p.contact
    row = {name: getattr(s, name) for name in FIELDS}  # (dataclasses.asdict deep-copies: 1 ms a row)
    row["status"] = s.status.value if s.status else None
    row["reasons"], row["follow_ups"] = list(s.reasons), list(s.follow_ups)
    row["request_ids"] = list(s.request_ids)
    row["phone"], row["opted_out"], row["on_whatsapp"] = c.phone, c.opted_out, c.on_whatsapp
    return row


async def load_people(session: AsyncSession, niks: Iterable[str], *, lock: bool = False) -> dict[str, Person]:
    query = select(C).where(any_of(C.c.nik, sorted(set(niks)))).order_by(C.c.nik)
    rows = (await session.execute(query.with_for_update() if lock else query)).mappings()
    return {r["nik"]: to_person(r) for r in rows}


async def load(session: AsyncSession, niks: Iterable[str]) -> dict[str, Standing]:
    """These people's standings (CEK)."""
    return {nik: p.standing for nik, p in (await load_people(session, niks)).items()}

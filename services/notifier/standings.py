"""People in the database (`notifier.contacts`, a row each): rows to and from domain/people.py, read by CEK
(inbound.py: the standing) and by the unit of work (uow.py), which the handlers fold each batch of consumed
events through. An update writes only the columns a batch changed (`changed_columns`, `column_values`): a
request changes two of a row's 22, its decision six, and every value sent is converted by asyncpg (about
0.9 us a text or uuid, 2 us a timestamp, measured on this machine)."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.columns import pack
from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person
from services.notifier.domain.standing import Standing
from services.notifier.store import C
from shared.enums import ParticipantStatus

FIELDS = [f.name for f in dataclasses.fields(Standing)]
CONTACT = ["phone", "opted_out", "on_whatsapp"]
COLUMNS = FIELDS + CONTACT  # every column of a contacts row
_STATUS = {s.value: s for s in ParticipantStatus}
_STANDING = operator.attrgetter(*FIELDS)  # a standing's column values, in FIELDS order
_CONTACT = operator.attrgetter(*CONTACT)
ARRAYS = frozenset({"reasons", "follow_ups", "request_ids"})  # text[] columns (tuples in a Standing)


_N = len(FIELDS)
_STATUS_AT = FIELDS.index("status")
_ARRAYS_AT = [i for i, name in enumerate(FIELDS) if name in ARRAYS]


def to_person(row: Sequence[Any]) -> Person:
    """A person from a row of `COLUMNS`, in that order, as the driver gives it (arrays as lists)."""
    values = list(row[:_N])
    status = values[_STATUS_AT]
    values[_STATUS_AT] = _STATUS[status] if status else None
    for i in _ARRAYS_AT:
        values[i] = tuple(values[i] or ())
    return Person(OnFile(*row[_N:]), Standing(*values))


def to_row(p: Person) -> dict[str, Any]:
    s, c = p.standing, p.contact
    row = {name: getattr(s, name) for name in FIELDS}  # (dataclasses.asdict deep-copies: 1 ms a row)
    row["status"] = s.status.value if s.status else None
    row["reasons"], row["follow_ups"] = list(s.reasons), list(s.follow_ups)
    row["request_ids"] = list(s.request_ids)
    row["phone"], row["opted_out"], row["on_whatsapp"] = c.phone, c.opted_out, c.on_whatsapp
    return row


def changed_columns(pairs: Iterable[tuple[Person | None, Person]]) -> list[str]:
    """The columns (`COLUMNS` order, nik aside) in which any of these people differ from their row as read
    (`None`: not read, every column)."""
    changed: set[str] = set()
    fields, contact = list(enumerate(FIELDS[1:], 1)), list(enumerate(CONTACT))
    for before, after in pairs:
        if before is None:
            return [c for c in COLUMNS if c != "nik"]
        if before.standing is not after.standing and fields:
            old, new = _STANDING(before.standing), _STANDING(after.standing)
            if old != new:
                found = [(i, name) for i, name in fields if old[i] != new[i]]
                changed.update(name for _, name in found)
                fields = [f for f in fields if f not in found]
        if before.contact != after.contact and contact:
            old, new = _CONTACT(before.contact), _CONTACT(after.contact)
            found = [(i, name) for i, name in contact if old[i] != new[i]]
            changed.update(name for _, name in found)
            contact = [f for f in contact if f not in found]
    return [c for c in COLUMNS if c in changed]


def column_values(people: Sequence[Person], column: str) -> list[Any]:
    """One column of these people's rows, as `to_row` gives it (an array column's cells as tuples)."""
    if column in CONTACT:
        return [getattr(p.contact, column) for p in people]
    values = [getattr(p.standing, column) for p in people]
    return [s.value if s else None for s in values] if column == "status" else values


# Read by position, without SQLAlchemy's result processing (a select of the table's columns converted each
# row's arrays again and built a mapping per row); the NIKs packed into one text when they can be (columns.py).
_LOAD = f"select {', '.join(COLUMNS)} from {C.schema}.{C.name} where nik = any({{}}) order by nik"
_PACKED, _ARRAY = "string_to_array(cast(:niks as text), chr(31))", "cast(:niks as text[])"
_QUERIES = {
    (packed, lock): text(_LOAD.format(_PACKED if packed else _ARRAY) + (" for update" if lock else ""))
    for packed in (True, False)
    for lock in (True, False)
}


async def load_people(session: AsyncSession, niks: Iterable[str], *, lock: bool = False) -> dict[str, Person]:
    """These people's rows (those the notifier holds), locked in NIK order when `lock`."""
    wanted = sorted(set(niks))
    if not wanted:
        return {}
    packed = pack(wanted)
    query = _QUERIES[packed is not None, lock]
    rows = await session.execute(query, {"niks": wanted if packed is None else packed})
    return {r[0]: to_person(r) for r in rows}


async def load(session: AsyncSession, niks: Iterable[str]) -> dict[str, Standing]:
    """These people's standings (CEK)."""
    return {nik: p.standing for nik, p in (await load_people(session, niks)).items()}

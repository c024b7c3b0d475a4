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

from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person
from services.notifier.domain.standing import Standing
from services.notifier.store import C
from shared.columns import ANY_ARRAY, ANY_PACKED, any_of
from shared.enums import ParticipantStatus

FIELDS = [f.name for f in dataclasses.fields(Standing)]
CONTACT = ["phone", "opted_out", "on_whatsapp"]
COLUMNS = FIELDS + CONTACT  # every column of a contacts row
_STATUS = {s.value: s for s in ParticipantStatus}
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
    (`None`: not read, every column). Each person is compared on the columns not yet found changed, in one
    tuple comparison (a batch's people mostly change the same few)."""
    unchanged = {"standing": FIELDS[1:], "contact": CONTACT}
    values = {part: operator.attrgetter(*names) for part, names in unchanged.items()}
    for before, after in pairs:
        if before is None:
            return [c for c in COLUMNS if c != "nik"]
        for part in ("standing", "contact"):
            old, new = getattr(before, part), getattr(after, part)
            if old is new or not unchanged[part]:
                continue
            old_values, new_values = values[part](old), values[part](new)
            if old_values != new_values:
                if len(unchanged[part]) == 1:  # attrgetter of one name gives the value, not a tuple
                    old_values, new_values = (old_values,), (new_values,)
                found = {name for name, a, b in zip(unchanged[part], old_values, new_values, strict=True) if a != b}
                unchanged[part] = [name for name in unchanged[part] if name not in found]
                if unchanged[part]:
                    values[part] = operator.attrgetter(*unchanged[part])
    return [c for c in COLUMNS if c != "nik" and c not in unchanged["standing"] and c not in unchanged["contact"]]


def column_values(people: Sequence[Person], column: str) -> list[Any]:
    """One column of these people's rows, as `to_row` gives it (an array column's cells as tuples)."""
    if column in CONTACT:
        return [getattr(p.contact, column) for p in people]
    values = [getattr(p.standing, column) for p in people]
    return [s.value if s else None for s in values] if column == "status" else values


# Read by position, without SQLAlchemy's result processing (a select of the table's columns converted each
# row's arrays again and built a mapping per row); the NIKs packed into one text when they can be (shared.columns).
_LOAD = f"select {', '.join(COLUMNS)} from {C.schema}.{C.name} where nik = {{}} order by nik"
_QUERIES = {
    (packed, lock): text(_LOAD.format(ANY_PACKED if packed else ANY_ARRAY) + (" for update" if lock else ""))
    for packed in (True, False)
    for lock in (True, False)
}


async def load_people(session: AsyncSession, niks: Iterable[str], *, lock: bool = False) -> dict[str, Person]:
    """These people's rows (those the notifier holds), locked in NIK order when `lock`."""
    wanted = sorted(set(niks))
    if not wanted:
        return {}
    packed, values = any_of(wanted)
    rows = await session.execute(_QUERIES[packed, lock], {"values": values})
    return {r[0]: to_person(r) for r in rows}


async def load(session: AsyncSession, niks: Iterable[str]) -> dict[str, Standing]:
    """These people's standings (CEK)."""
    return {nik: p.standing for nik, p in (await load_people(session, niks)).items()}

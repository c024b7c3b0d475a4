"""How a batch's columns travel to PostgreSQL in the services' bulk statements (registry uow.py and
worklist.py, notifier uow.py and standings.py): one parameter per column, whatever the batch size, sent as
cheaply as its values allow.

asyncpg converts an array parameter element by element, in Python-level code (two ABC isinstance checks per
text element, about 0.4-0.9 us an element, 1-2.5 us a timestamptz): a decision's request row, participant,
history row and two worklist items were some 50 conversions, a 500-message batch's 13 columns some 6,000. So:
- a column whose values are all the same (a batch's event type, source, `updated_at`, `attempts`, a request's
  status, the SLA columns of regular requests) travels once, as one value;
- a text column travels packed: its values joined by US (0x1f), None as RS (0x1e), one string that the
  statement splits back (`string_to_array(..., chr(31), chr(30))`). A value holding US, or equal to RS, or a
  single empty value (which would split into no element at all) sends the column as an array instead;
- a timestamptz column travels packed too, each time as its microseconds since the epoch, which the statement
  adds back to the epoch (exact: an interval of microseconds); a naive time sends the column as an array;
- anything else as an array (an array column's cells each joined by US, as shared.db.bulk_insert sends them).
Each mix of these is its own statement text (cached here, prepared once per connection by asyncpg).
`any_of` packs the texts of a `column = any(...)` look-up the same way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ARRAY, DateTime, String, Table, TextClause, TypeDecorator, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

US, RS = "\x1f", "\x1e"
ONE, PACKED, ARRAY_, MICROS = "one", "packed", "array", "micros"
EPOCH, MICROSECOND = dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.timedelta(microseconds=1)
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def pack(values: Sequence[str | None]) -> str | None:
    """The values as one string (`string_to_array(it, chr(31), chr(30))` gives them back), or None when they
    cannot be (see the module's docstring)."""
    if RS in values:
        return None
    joined = US.join([RS if v is None else v for v in values])
    return joined if joined and joined.count(US) == len(values) - 1 else None


def pack_times(values: Sequence[dt.datetime | None]) -> str | None:
    """Aware times as one string of their microseconds since the epoch (None as RS), or None when one is
    naive (it has no instant: sent as an array, as before)."""
    try:
        return US.join([RS if v is None else str((v - EPOCH) // MICROSECOND) for v in values])
    except TypeError:
        return None


def _is_text(kind: TypeEngine[Any]) -> bool:
    return isinstance(kind.impl if isinstance(kind, TypeDecorator) else kind, String)


def any_of(values: Sequence[str]) -> tuple[bool, str | Sequence[str]]:
    """`column = any(...)` over these texts in one parameter: (packed or not, the parameter's value). The
    statement's text for each case is `ANY_PACKED` or `ANY_ARRAY`, naming the parameter `:values`."""
    packed = pack(values)
    return (True, packed) if packed is not None else (False, values)


ANY_PACKED, ANY_ARRAY = "any(string_to_array(cast(:values as text), chr(31)))", "any(cast(:values as text[]))"


@dataclass(frozen=True, slots=True)
class Columns:
    """A batch's columns as they travel: the statement's parameters, and each column's way (`modes`)."""

    names: tuple[str, ...]
    modes: tuple[str, ...]
    params: dict[str, Any]


def columns(table: Table, values: dict[str, list[Any]], *, keys: Sequence[str] = ()) -> Columns:
    """`values`: column name -> its values, a row each (every list as long). `keys` never travel as one value
    (an update's key column: its rows are told apart by it)."""
    names, modes, params = tuple(values), [], {}
    for i, name in enumerate(names):
        column, kind = values[name], table.c[name].type
        if name not in keys and len(column) > 1 and column[-1] == column[0] and column.count(column[0]) == len(column):
            modes.append(ONE)
            params[f"p{i}"] = US.join(column[0]) if isinstance(kind, ARRAY) else column[0]
        elif isinstance(kind, ARRAY):
            modes.append(ARRAY_)
            params[f"p{i}"] = [US.join(v) for v in column]
        elif _is_text(kind) and (packed := pack(column)) is not None:
            modes.append(PACKED)
            params[f"p{i}"] = packed
        elif isinstance(kind, DateTime) and kind.timezone and (packed := pack_times(column)) is not None:
            modes.append(MICROS)
            params[f"p{i}"] = packed
        else:
            modes.append(ARRAY_)
            params[f"p{i}"] = column
    return Columns(names, tuple(modes), params)


@lru_cache(maxsize=128)
def _parts(table: Table, names: tuple[str, ...], modes: tuple[str, ...]) -> tuple[list[str], str]:
    """Each column's value in a row (`u.c<i>`, or the one value), and the unnest clause they come from."""
    args, aliases, values = [], [], []
    for i, (name, mode) in enumerate(zip(names, modes, strict=True)):
        kind = table.c[name].type
        sql_type = kind.compile(dialect=_DIALECT)
        if mode == ONE:
            array = isinstance(kind, ARRAY)
            values.append(f"string_to_array(cast(:p{i} as text), chr(31))" if array else f"cast(:p{i} as {sql_type})")
            continue
        aliases.append(f"c{i}")
        if isinstance(kind, ARRAY):
            args.append(f"cast(:p{i} as text[])")
            values.append(f"string_to_array(u.c{i}, chr(31))")
        elif mode == PACKED:
            args.append(f"string_to_array(cast(:p{i} as text), chr(31), chr(30))")
            values.append(f"u.c{i}")
        elif mode == MICROS:
            args.append(f"string_to_array(cast(:p{i} as text), chr(31), chr(30))")
            values.append(f"(timestamptz 'epoch' + cast(u.c{i} as bigint) * interval '1 microsecond')")
        else:
            args.append(f"cast(:p{i} as {sql_type}[])")
            values.append(f"u.c{i}")
    return values, f"unnest({', '.join(args)}) as u({', '.join(aliases)})"


@lru_cache(maxsize=128)
def insert(table: Table, names: tuple[str, ...], modes: tuple[str, ...], suffix: str) -> TextClause:
    """INSERT ... SELECT of the rows (`suffix`: ON CONFLICT, RETURNING)."""
    values, source = _parts(table, names, modes)
    into = f"{table.schema}.{table.name} ({', '.join(names)})"
    return text(f"insert into {into} select {', '.join(values)} from {source} {suffix}")


@lru_cache(maxsize=128)
def update(table: Table, names: tuple[str, ...], modes: tuple[str, ...]) -> TextClause:
    """UPDATE of the rows named by the first column (the key) setting the others."""
    values, source = _parts(table, names, modes)
    sets = ", ".join(f"{name} = {value}" for name, value in zip(names[1:], values[1:], strict=True))
    return text(f"update {table.schema}.{table.name} t set {sets} from {source} where t.{names[0]} = {values[0]}")


def parts(table: Table, names: tuple[str, ...], modes: tuple[str, ...]) -> tuple[list[str], str]:
    """Each column's value in a row, and the unnest clause they come from, for a statement of its own
    (worklist.record's insert, which keeps some rows out)."""
    return _parts(table, names, modes)

"""Where personal data is still stored: every row of the services' tables that holds one of a few needles
(a NIK's digits, a name, a phone number, a message's text), for the erasure tests. One query per table for
all the needles, since the scan is polled while the services erase and must not take the CPU they need.

A whole row is searched as text; a byte column (an outbox payload: one event, or a bundle of many framed
with binary lengths, which is not valid UTF-8) is searched as bytes for each needle's UTF-8."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

COLUMNS = text(
    "select c.table_schema, c.table_name, c.column_name, c.data_type from information_schema.columns c "
    "join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name "
    "where c.table_schema = any(:schemas) and t.table_type = 'BASE TABLE'"
)


async def rows_holding(conn: AsyncConnection, schemas: Sequence[str], needles: Sequence[str]) -> list[str]:
    """`schema.table: <the row or payload, cut>` once per row and needle it holds."""
    columns = (await conn.execute(COLUMNS, {"schemas": list(schemas)})).all()
    cells = {(s, t, "t::text", False) for s, t, _, _ in columns}
    cells |= {(s, t, f"t.{c}", True) for s, t, c, kind in columns if kind == "bytea"}
    params = {f"n{i}": needle for i, needle in enumerate(needles)}
    found: list[str] = []
    for schema, table, cell, raw in sorted(cells):
        holds = " or ".join(
            f"position(convert_to(:{name}, 'UTF8') in {cell}) > 0" if raw else f"strpos({cell}, :{name}) > 0"
            for name in params
        )
        rows = (await conn.execute(text(f'select {cell} from "{schema}"."{table}" t where {holds}'), params)).all()
        for (value,) in rows:
            shown = bytes(value).decode("utf-8", "replace") if raw else value
            found += [f"{schema}.{table}: {shown[:200]}" for needle in needles if needle in shown]
    return found

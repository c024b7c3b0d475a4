"""The inbox: which incoming events a service has already applied, claimed in the batch's own transaction.

Every consumer is at-least-once (a crash before the offset commit redelivers), so a handler claims its
batch's event ids first and applies only the ones it wins. The claim is one statement whatever the batch
size (`insert ... select unnest(:ids) on conflict do nothing returning event_id`): an id already in
`<schema>.processed_events`, or inserted by a concurrent transaction that commits, is not returned, so
of two transactions claiming the same id exactly one applies it (the loser waits on the winner's row
lock, then finds the conflict). A rolled-back batch releases its claims with everything else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Protocol, TypeVar

from sqlalchemy import Column, MetaData, Table, TextClause, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

TABLE_NAME = "processed_events"


class HasEventId(Protocol):
    @property
    def event_id(self) -> uuid.UUID: ...


E = TypeVar("E", bound=HasEventId)


def processed_events_table(metadata: MetaData, schema: str) -> Table:
    """`<schema>.processed_events (event_id uuid primary key)`: the same shape in every service."""
    return Table(TABLE_NAME, metadata, Column("event_id", Uuid, primary_key=True), schema=schema)


@lru_cache(maxsize=16)
def _claim(qualified_name: str) -> TextClause:
    # One statement whatever the batch size (a VALUES list would be compiled anew per size).
    return text(
        f"insert into {qualified_name} (event_id) select unnest(cast(:ids as uuid[])) "
        "on conflict do nothing returning event_id"
    ).bindparams(bindparam("ids", type_=ARRAY(Uuid)))


def _qualified(table_or_schema: Table | str) -> str:
    if isinstance(table_or_schema, Table):
        return f"{table_or_schema.schema}.{table_or_schema.name}" if table_or_schema.schema else table_or_schema.name
    return f"{table_or_schema}.{TABLE_NAME}"


async def claim_new(
    session: AsyncSession | AsyncConnection, table_or_schema: Table | str, event_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Claims the ids not seen before (inserted in this transaction) and returns them. `table_or_schema`:
    the processed-events table, or the name of the schema holding `processed_events`."""
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return set()
    result = await session.execute(_claim(_qualified(table_or_schema)), {"ids": ids})
    return {row[0] for row in result}


async def claim_events(
    session: AsyncSession | AsyncConnection, table_or_schema: Table | str, events: Sequence[E]
) -> list[E]:
    """The events of this batch to apply, in their order: those whose id this transaction claimed, each
    once (a record delivered twice in one batch is applied once, at its first place)."""
    fresh = await claim_new(session, table_or_schema, (e.event_id for e in events))
    todo: list[E] = []
    for event in events:
        if event.event_id in fresh:
            fresh.discard(event.event_id)
            todo.append(event)
    return todo

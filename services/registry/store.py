"""The registry schema: current participants, append-only history, processed ids, anomalies,
requests (SLA board, per-region requests), notification states, outbox. Batch-friendly queries."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, String, Table, TextClause, UniqueConstraint, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from shared.outbox import outbox_table

SCHEMA = "registry"
MIGRATIONS = Path(__file__).parent / "migrations"


def _tz(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class ParticipantRow(SQLModel, table=True):
    __tablename__ = "participants"
    __table_args__ = (
        Index("ix_registry_participants_region", "province", "regency", "district"),
        Index("ix_registry_participants_status", "status"),
        {"schema": SCHEMA},
    )
    nik: str = Field(primary_key=True, max_length=16)
    status: str
    province: str
    regency: str
    district: str
    deactivation_reason: str | None = None
    deactivated_on: dt.date | None = None
    window_closes_at: dt.datetime | None = _tz()
    desil: int | None = None
    biometric_recorded: bool = False
    id_semesta: str | None = None
    deceased: bool = False
    nik_conflict_open: bool = False
    phone: str | None = None
    last_status_event_at: dt.datetime | None = _tz()


class HistoryRow(SQLModel, table=True):
    __tablename__ = "history"
    __table_args__ = (
        UniqueConstraint("event_id", "nik"),
        Index("ix_registry_history_nik", "nik", "id"),
        {"schema": SCHEMA},
    )
    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    nik: str = Field(max_length=16)
    event_id: uuid.UUID
    event_type: str
    occurred_at: dt.datetime = _tz(nullable=False)
    source: str
    previous_status: str | None = None
    status: str
    reasons: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String), nullable=False))


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"
    __table_args__ = {"schema": SCHEMA}
    event_id: uuid.UUID = Field(primary_key=True)


class AnomalyRow(SQLModel, table=True):
    __tablename__ = "anomalies"
    __table_args__ = {"schema": SCHEMA}
    id: int | None = Field(default=None, primary_key=True)
    event_id: uuid.UUID
    nik: str
    kind: str
    detail: str
    recorded_at: dt.datetime = _tz(nullable=False)


class RequestRow(SQLModel, table=True):
    __tablename__ = "requests"
    __table_args__ = (Index("ix_registry_requests_sla", "path", "sla_state"), {"schema": SCHEMA})
    request_id: uuid.UUID = Field(primary_key=True)
    nik: str = Field(max_length=16)
    path: str
    channel: str
    facility_code: str | None = None
    province: str
    regency: str
    district: str
    status: str = "RECEIVED"
    reasons: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String), nullable=False))
    received_at: dt.datetime = _tz(nullable=False)
    decided_at: dt.datetime | None = _tz()
    sla_deadline: dt.datetime | None = _tz()
    sla_state: str | None = None


class NotificationRow(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = {"schema": SCHEMA}
    message_id: uuid.UUID = Field(primary_key=True)
    channel: str
    kind: str
    state: str
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}"))


outbox = outbox_table(MetaData(), SCHEMA)
TABLES = [
    ParticipantRow.__table__,
    HistoryRow.__table__,
    ProcessedEvent.__table__,
    AnomalyRow.__table__,
    RequestRow.__table__,
    NotificationRow.__table__,
    outbox,
]
P, H, PE, A, RQ, N = (
    ParticipantRow.__table__,
    HistoryRow.__table__,
    ProcessedEvent.__table__,
    AnomalyRow.__table__,
    RequestRow.__table__,
    NotificationRow.__table__,
)


# --- bulk writes -------------------------------------------------------------------------------
# One INSERT ... SELECT FROM unnest(<one array per column>) per table and batch: a single statement
# and a single round trip for thousands of rows (executemany costs a server execution per row).
_SEP = "\x1f"  # unit separator: joins a text[] cell into one string (unnest would flatten 2-D arrays)


@lru_cache(maxsize=32)
def _unnest_insert(table: Table, columns: tuple[str, ...], on_conflict: str) -> TextClause:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    args, selects = [], []
    for i, name in enumerate(columns):
        col_type = table.c[name].type
        if isinstance(col_type, ARRAY):
            args.append(f"cast(:p{i} as text[])")
            selects.append(f"string_to_array(u.c{i}, chr(31))")
        elif isinstance(col_type, JSONB):
            args.append(f"cast(:p{i} as text[])")
            selects.append(f"cast(u.c{i} as jsonb)")
        else:
            args.append(f"cast(:p{i} as {col_type.compile(dialect=dialect)}[])")
            selects.append(f"u.c{i}")
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    return text(
        f"insert into {table.schema}.{table.name} ({', '.join(columns)}) "
        f"select {', '.join(selects)} from unnest({', '.join(args)}) as u({aliases}) {on_conflict}"
    )


def upsert_clause(key: str, columns: Sequence[str]) -> str:
    """ON CONFLICT (key) DO UPDATE SET every other column to the new row's value."""
    return f"on conflict ({key}) do update set " + ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)


async def bulk_insert(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], on_conflict: str = ""
) -> None:
    if not rows:
        return
    columns = tuple(rows[0])
    params: dict[str, list[Any]] = {}
    for i, name in enumerate(columns):
        values = [row[name] for row in rows]
        col_type = table.c[name].type
        if isinstance(col_type, ARRAY):
            values = [_SEP.join(v) for v in values]
        elif isinstance(col_type, JSONB):
            values = [json.dumps(v) for v in values]
        params[f"p{i}"] = values
    await session.execute(_unnest_insert(table, columns, on_conflict), params)

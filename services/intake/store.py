"""The intake schema: facilities, idempotency keys, the request read model, the import ledger."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, String
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

SCHEMA = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"


def _tz(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class Facility(SQLModel, table=True):
    __tablename__ = "facilities"
    __table_args__ = {"schema": SCHEMA}
    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = {"schema": SCHEMA}
    key: str = Field(primary_key=True, max_length=200)
    principal: str = Field(primary_key=True, max_length=32)
    body_hash: str
    status_code: int
    response: dict = Field(sa_column=Column(JSONB, nullable=False))
    created_at: dt.datetime = _tz(nullable=False)
    # The claiming process's instance token (shared.tx_lease): while it lives its advisory lock is held; a
    # claim whose holder died may be taken at once. NULL: claimed by a process from before 0003.
    holder: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class RequestView(SQLModel, table=True):
    __tablename__ = "requests"
    __table_args__ = (Index("ix_intake_requests_facility", "facility_code"), {"schema": SCHEMA})
    request_id: uuid.UUID = Field(primary_key=True)
    nik: str = Field(max_length=16)
    path: str
    facility_code: str | None = None
    status: str = "RECEIVED"
    reasons: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String), nullable=False))
    received_at: dt.datetime = _tz(nullable=False)
    decided_at: dt.datetime | None = _tz()
    sla_deadline: dt.datetime | None = _tz()
    sla_state: str | None = None
    last_event_at: dt.datetime | None = _tz()


class AppealView(SQLModel, table=True):
    """Appeals as GET /v1/appeals/{id} shows them: written when intake accepts one (or learns of a
    WhatsApp one from eligibility), kept up to date from eligibility's appeal.updated events. One per
    request: a request is rejected at most once (one appeal per decision)."""

    __tablename__ = "appeals"
    __table_args__ = {"schema": SCHEMA}
    appeal_id: uuid.UUID = Field(primary_key=True)
    request_id: uuid.UUID = Field(unique=True)
    nik: str = Field(max_length=16)
    channel: str
    status: str = "OPEN"
    reasons: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String), nullable=False))
    received_at: dt.datetime = _tz(nullable=False)
    due_at: dt.datetime = _tz(nullable=False)
    decided_at: dt.datetime | None = _tz()
    last_event_at: dt.datetime | None = _tz()


class ImportLedger(SQLModel, table=True):
    __tablename__ = "import_ledger"
    __table_args__ = {"schema": SCHEMA}
    event_id: uuid.UUID = Field(primary_key=True)
    imported_at: dt.datetime = _tz(nullable=False)


class ProcessedEvent(SQLModel, table=True):
    """No longer written (issue 20): the read model's effects are idempotent by their own guards (uow.py).
    Kept while a rolling update may still run the previous release's read model, which claims here; a
    later release's migration drops it (docs/operations.md, expand/contract)."""

    __tablename__ = "processed_events"
    __table_args__ = {"schema": SCHEMA}
    event_id: uuid.UUID = Field(primary_key=True)


TABLES = [
    Facility.__table__,
    IdempotencyKey.__table__,
    RequestView.__table__,
    ImportLedger.__table__,
    ProcessedEvent.__table__,
    AppealView.__table__,
]

"""The registry schema: current participants, append-only history, the inbox, anomalies, requests (SLA
board, per-region requests), notification states, worklist items, outbox. The unit of work that writes a
batch's changes into them (PostgreSQL, or in memory for the handler tests) is in services/registry/uow.py."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    Uuid,
    column,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from shared.outbox import outbox_table

SCHEMA = "registry"
MIGRATIONS = Path(__file__).parent / "migrations"


# People still out of the programme (domain.status.STILL_OUT), as the window sweep's index predicate.
STILL_OUT_SQL = "status in ('INACTIVE', 'REACTIVATION_PENDING')"
# Emergency requests, as the SLA board's index predicate.
EMERGENCY_SQL = "path = 'EMERGENCY'"


def _tz(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class ParticipantRow(SQLModel, table=True):
    __tablename__ = "participants"
    __table_args__ = (
        # No index by status or region: only whole-table counts group by them (migration 0009).
        # The window-close sweep's queue: only people still out, in the order their windows close.
        Index(
            "ix_registry_participants_window_open",
            "window_closes_at",
            postgresql_where=text(STILL_OUT_SQL),
        ),
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
        # A person's history in order is the key itself (migration 0010).
        PrimaryKeyConstraint("nik", "id", name="history_pkey"),
        UniqueConstraint("event_id", "nik"),
        # Stats count the expiries at window close without reading the whole history.
        Index(
            "ix_registry_history_window_closed",
            "event_type",
            postgresql_where=text("event_type = 'registry.window_closed'"),
        ),
        {"schema": SCHEMA},
    )
    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    nik: str = Field(max_length=16, primary_key=True)
    event_id: uuid.UUID
    event_type: str
    occurred_at: dt.datetime = _tz(nullable=False)
    source: str
    previous_status: str | None = None
    status: str
    reasons: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String), nullable=False))


class InboxRow(SQLModel, table=True):
    """Events applied that leave no row keyed by themselves (SLA states, appeals; a deactivation that
    changes nothing): shared.inbox claims them. Deactivations, facts and decisions are de-duplicated by
    their history row or anomaly instead (domain.batch.dedup_by_effect); requests and message states need
    neither (domain.batch.APPLIED_AGAIN: applied again, they change nothing)."""

    __tablename__ = "inbox"
    __table_args__ = {"schema": SCHEMA}
    event_id: uuid.UUID = Field(primary_key=True)


# Every event the registry has applied, whichever row remembers it (a view: inbox, history, anomalies),
# for operations, tests and the bench to ask "seen yet?"; a request or a message's state is not in it
# (no row keeps their event ids): its request or notification row is what shows it.
PE = table("processed_events", column("event_id", Uuid), schema=SCHEMA)
SEEN_VIEW_SQL = (
    f"select event_id from {SCHEMA}.inbox union select event_id from {SCHEMA}.history "
    f"union select event_id from {SCHEMA}.anomalies"
)


class AnomalyRow(SQLModel, table=True):
    __tablename__ = "anomalies"
    __table_args__ = (UniqueConstraint("event_id", "nik"), {"schema": SCHEMA})
    id: int | None = Field(default=None, primary_key=True)
    event_id: uuid.UUID
    nik: str
    kind: str
    detail: str
    recorded_at: dt.datetime = _tz(nullable=False)


class RequestRow(SQLModel, table=True):
    __tablename__ = "requests"
    __table_args__ = (
        # The SLA board: emergencies only, by deadline (queries.dashboard_snapshot states the predicate).
        Index("ix_registry_requests_emergency", "sla_deadline", postgresql_where=text(EMERGENCY_SQL)),
        Index("ix_registry_requests_decided", "decided_at"),  # the dashboard's decisions per minute
        {"schema": SCHEMA},
    )
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
    # The dashboard's messages over time read the rows changed in the last hours (updated_at).
    __table_args__ = (Index("ix_registry_notifications_updated", "updated_at"), {"schema": SCHEMA})
    message_id: uuid.UUID = Field(primary_key=True)
    channel: str
    kind: str
    state: str
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}"))
    # When the notifier reported it sent, delivered (or read) and failed: the first report of each.
    sent_at: dt.datetime | None = _tz()
    delivered_at: dt.datetime | None = _tz()
    failed_at: dt.datetime | None = _tz()
    updated_at: dt.datetime | None = _tz()


class WorklistItemRow(SQLModel, table=True):
    """Work for operations, stored with the request it came from (CONTRACT.md, operations worklist):
    one item per (request, kind), whatever is redelivered (item_id = domain.worklist.item_id)."""

    __tablename__ = "worklist_items"
    __table_args__ = (
        Index("ix_registry_worklist_open", "state", "kind", "due_at"),
        Index("ix_registry_worklist_region", "province", "regency", "district"),
        # Facts close a person's open items by NIK and kind (worklist.close_satisfied).
        Index("ix_registry_worklist_open_nik", "nik", "kind", postgresql_where=text("state = 'OPEN'")),
        {"schema": SCHEMA},
    )
    item_id: uuid.UUID = Field(primary_key=True)
    kind: str
    nik: str = Field(max_length=16)
    request_id: uuid.UUID | None = None
    province: str
    regency: str
    district: str
    opened_at: dt.datetime = _tz(nullable=False)
    due_at: dt.datetime | None = _tz()
    state: str = "OPEN"
    closed_by: str | None = None
    closed_at: dt.datetime | None = _tz()
    note: str | None = None


outbox = outbox_table(MetaData(), SCHEMA, bundles=True)  # a batch's status changes in one row (lz4: migration 0011)
TABLES = [
    ParticipantRow.__table__,
    HistoryRow.__table__,
    InboxRow.__table__,
    AnomalyRow.__table__,
    RequestRow.__table__,
    NotificationRow.__table__,
    WorklistItemRow.__table__,
    outbox,
]
P, H, INBOX, A, RQ, N, W = (
    ParticipantRow.__table__,
    HistoryRow.__table__,
    InboxRow.__table__,
    AnomalyRow.__table__,
    RequestRow.__table__,
    NotificationRow.__table__,
    WorklistItemRow.__table__,
)

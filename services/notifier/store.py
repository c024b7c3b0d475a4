"""The notifier schema: contacts (phone, opt-out), messages with their delivery state, processed ids."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Index, Table, Text
from sqlmodel import Field, SQLModel

SCHEMA = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


def _tz(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (Index("ix_notifier_contacts_phone", "phone"), {"schema": SCHEMA})
    nik: str = Field(primary_key=True, max_length=16)
    phone: str | None = None
    opted_out: bool = False
    on_whatsapp: bool | None = None  # None: unknown (try WhatsApp); False: WhatsApp refused the number


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_notifier_messages_due", "state", "send_after"),
        Index("ix_notifier_messages_provider", "provider_message_id"),
        {"schema": SCHEMA},
    )
    message_id: uuid.UUID = Field(primary_key=True)
    nik: str = Field(max_length=16)
    kind: str
    urgent: bool = False
    text: str = Field(sa_column=Column(Text, nullable=False))
    phone: str
    channel: str = "WHATSAPP"
    state: str = "QUEUED"  # QUEUED, SENDING, SENT, DELIVERED, READ, FAILED, SKIPPED
    provider_message_id: str | None = None
    attempts: int = 0
    send_after: dt.datetime = _tz(nullable=False)
    last_error: str | None = None
    updated_at: dt.datetime = _tz(nullable=False)
    correlation_id: str | None = Field(default=None, max_length=64)  # see shared.correlation


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"
    __table_args__ = {"schema": SCHEMA}
    event_id: uuid.UUID = Field(primary_key=True)


C: Table = Contact.__table__  # type: ignore[attr-defined]
M: Table = MessageRow.__table__  # type: ignore[attr-defined]
PE: Table = ProcessedEvent.__table__  # type: ignore[attr-defined]
TABLES = [C, M, PE]

"""The notifier schema: contacts (a row per person: the phone and opt-out, and the standing CEK answers
from), messages with their delivery state, the inbox; for citizens' commands: opt-outs by number, inbound
messages seen. The unit of work that writes a batch of consumed events into them is in uow.py."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
    column,
    false,
    table,
)
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from shared.outbox import outbox_table

SCHEMA = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"
ON_THEIR_WAY = "('QUEUED', 'SENDING', 'WAITING')"  # the states of a message not yet sent (the queue's index)


def _tz(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


def _texts() -> Any:
    return Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"))


def _flag() -> Any:
    return Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))


class Contact(SQLModel, table=True):
    """One row per person the notifier holds (domain/people.py): their contact, and their standing as the
    notifier knows it from the events it consumes (domain/standing.py), what CEK answers (revision 0008:
    the standings table folded in, so that a person costs one row). Pages are filled to 40% (revision
    0009): a standing's update changes no indexed column, so it stays on its page (HOT)."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_notifier_contacts_phone", "phone"),
        {"schema": SCHEMA, "postgresql_with": {"fillfactor": 40}},
    )
    nik: str = Field(primary_key=True, max_length=16)
    phone: str | None = None
    opted_out: bool = False
    on_whatsapp: bool | None = None  # None: unknown (try WhatsApp); False: WhatsApp refused the number
    status: str | None = None
    deactivated_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    deactivation_reason: str | None = None
    window_closes_at: dt.datetime | None = _tz()
    reasons: list[str] = _texts()
    follow_ups: list[str] = _texts()
    biometric_recorded: bool = _flag()
    nik_conflict_resolved: bool = _flag()
    id_semesta: bool = _flag()
    deceased: bool = _flag()
    desil: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    desil_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    request_open: bool = _flag()
    last_status_at: dt.datetime | None = _tz()
    request_ids: list[str] = _texts()


class MessageRow(SQLModel, table=True):
    """A message and its delivery state. Its indexes hold only what is looked for (revision 0009): the queue
    (messages still on their way) and the provider ids messages were sent under."""

    __tablename__ = "messages"
    __table_args__ = (
        # (state, urgent, send_after): the sender claims urgent messages first, each kind oldest first, by
        # reading the index in order (revision 0010).
        Index(
            "ix_notifier_messages_due",
            "state",
            "urgent",
            "send_after",
            postgresql_where=sql(f"state in {ON_THEIR_WAY}"),
        ),
        Index(
            "ix_notifier_messages_provider",
            "provider_message_id",
            postgresql_where=sql("provider_message_id is not null"),
        ),
        {"schema": SCHEMA},
    )
    message_id: uuid.UUID = Field(primary_key=True)
    nik: str | None = Field(default=None, max_length=16)  # None: a general answer to a number (no person)
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
    # The consumed event that asked for it (revision 0007); None for answers to citizens' own messages.
    event_id: uuid.UUID | None = None


class InboxRow(SQLModel, table=True):
    """Consumed events applied that no row of their own remembers (shared.inbox claims them): all but a
    deactivation with a message and an SLA change that escalates, whose message ids de-duplicate them."""

    __tablename__ = "inbox"
    __table_args__ = {"schema": SCHEMA}
    event_id: uuid.UUID = Field(primary_key=True)


# Every consumed event applied, whichever row remembers it (a view: the inbox and the messages' event ids),
# for operations and tests to ask "seen yet?".
PE = table("processed_events", column("event_id", Uuid), schema=SCHEMA)
SEEN_VIEW_SQL = (
    f"select event_id from {SCHEMA}.inbox union select event_id from {SCHEMA}.messages where event_id is not null"
)


class OptOut(SQLModel, table=True):
    """BERHENTI/STOP and MULAI by number: holds for a number no contact row names yet."""

    __tablename__ = "opt_outs"
    __table_args__ = {"schema": SCHEMA}
    phone: str = Field(primary_key=True)
    opted_out: bool
    changed_at: dt.datetime = _tz(nullable=False)


class InboundMessage(SQLModel, table=True):
    """Each inbound message once, keyed by the provider's id (WhatsApp wamid, Twilio MessageSid).
    Its text is not kept: the command it was is enough."""

    __tablename__ = "inbound_messages"
    __table_args__ = {"schema": SCHEMA}
    inbound_id: str = Field(primary_key=True, max_length=128)
    channel: str
    phone: str
    command: str
    outcome: str = "ANSWERED"  # ANSWERED, RATE_LIMITED, OPTED_OUT, RESUMED
    received_at: dt.datetime = _tz(nullable=False)


C: Table = Contact.__table__  # type: ignore[attr-defined]
M: Table = MessageRow.__table__  # type: ignore[attr-defined]
INBOX: Table = InboxRow.__table__  # type: ignore[attr-defined]
OO: Table = OptOut.__table__  # type: ignore[attr-defined]
IN: Table = InboundMessage.__table__  # type: ignore[attr-defined]
TABLES = [C, M, INBOX]  # 0001's tables (processed_events, renamed inbox by 0007); 0004 brings OO, IN, outbox
outbox = outbox_table(MetaData(), SCHEMA)  # AppealRequested from BANDING (revision 0004)

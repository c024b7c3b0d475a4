"""Correlation ids: one id follows a piece of work from the intake request that started it,
through the Kafka headers of every event it causes, into every service's log lines.

- Intake takes the caller's `X-Correlation-ID` (or makes one); every record published while it is
  current carries it (`x-correlation-id`, put there by shared.messaging.event_headers, for every producer).
- Consumers read it from each record's headers (`with handling(...)`); log lines of a one-record
  batch carry it, and an outgoing event written with `outbox_row(..., cause=<incoming event id>)`
  (or `Record.of(..., cause=...)`) gets the id of the record that caused it.
- A record that arrives without one (a timer, an external producer) is known by its event id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

import structlog

HEADER = "x-correlation-id"
HTTP_HEADER = "X-Correlation-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # what a log pipeline can index safely

_current: ContextVar[str | None] = ContextVar("pbi_correlation_id", default=None)
_by_event: ContextVar[Mapping[uuid.UUID, str]] = ContextVar(
    "pbi_correlation_by_event",
    default=MappingProxyType({}),  # read-only: safe as a shared default
)


def new_id() -> str:
    return uuid.uuid4().hex


def accept(supplied: str | None) -> str:
    """The caller's id when it is a sane token, a fresh one otherwise (never a caller's free text)."""
    return supplied if supplied and _VALID.match(supplied) else new_id()


def current() -> str | None:
    return _current.get()


def for_event(cause: uuid.UUID | None) -> str | None:
    """The correlation id of the incoming event `cause` (batches mix many), else the current one."""
    if cause is not None and (found := _by_event.get().get(cause)):
        return found
    return _current.get()


def from_headers(headers: Sequence[tuple[str, bytes]] | None) -> str | None:
    for key, value in headers or ():
        if key == HEADER and value:
            text = value.decode(errors="replace")
            return text if _VALID.match(text) else None
    return None


def kafka_headers(correlation_id: str | None) -> list[tuple[str, bytes]]:
    return [(HEADER, correlation_id.encode())] if correlation_id else []


@contextmanager
def bound(correlation_id: str) -> Iterator[None]:
    """Within this block the id is current and on every structlog line."""
    token = _current.set(correlation_id)
    try:
        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            yield
    finally:
        _current.reset(token)


@contextmanager
def handling(by_event: Mapping[uuid.UUID, str]) -> Iterator[None]:
    """While a consumer handles a batch: each incoming event id -> its correlation id. When the batch
    has one id (a single record, or one intake request's batch) it is also bound to the log lines."""
    token = _by_event.set(by_event)
    ids = set(by_event.values())
    try:
        if len(ids) == 1:
            with bound(next(iter(ids))):
                yield
        else:
            yield
    finally:
        _by_event.reset(token)

"""Decoding a body of participant events: a single event or {"events": [...]} with up to MAX_BATCH.
Pure (no I/O), so that it runs the same in the event loop, a thread or the bulk worker process."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from services.intake.domain.idempotency import event_id_for
from shared.events import Event, ParticipantEvent

MAX_BATCH = 10_000
VALIDATE_CHUNK = 100
events_adapter: TypeAdapter[list[ParticipantEvent]] = TypeAdapter(list[ParticipantEvent])


def _validation_error(exc: ValidationError, prefix: tuple[Any, ...], indexed: bool) -> RequestValidationError:
    """Errors located under `prefix`; a lone event (not a batch) is named without the list index."""
    return RequestValidationError(
        [
            {**e, "loc": (*prefix, *(e["loc"] if indexed else e["loc"][1:]))}
            for e in exc.errors(include_url=False, include_input=False)
        ]
    )


def decode_body(raw: bytes) -> Any:
    """The request's JSON (what FastAPI would have parsed): an empty or malformed body is a 422."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        pos = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", pos), "msg": "JSON decode error"}])


def event_types(body: Any) -> set[str]:
    """The `type`s a body names (a cheap look before validation, for the scope check)."""
    raw = body.get("events") if isinstance(body, dict) and "events" in body else [body]
    if not isinstance(raw, list):
        return set()
    return {e["type"] for e in raw if isinstance(e, dict) and isinstance(e.get("type"), str)}


def parse_events(body: Any, source: str | None = None) -> list[ParticipantEvent]:
    """A single event or {"events": [...]}; every event validated before anything is published.
    `source` (the API key's) replaces whatever source the events claim, before their ids are derived."""
    batch = isinstance(body, dict) and "events" in body
    raw = body["events"] if batch else [body]
    if batch and (set(body) - {"events"}):
        raise RequestValidationError(
            [
                {
                    "loc": ("body", sorted(set(body) - {"events"})[0]),
                    "msg": "unexpected field next to 'events'",
                    "type": "extra_forbidden",
                }
            ]
        )
    if not isinstance(raw, list) or not raw or len(raw) > MAX_BATCH:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "events"),
                    "type": "value_error",
                    "msg": f"'events' must be a list of 1 to {MAX_BATCH:,} events",
                }
            ]
        )
    prepared = [_stamped(e, source) if isinstance(e, dict) else e for e in raw]
    try:
        return _validate_in_chunks(prepared)
    except ValidationError:
        try:  # the whole list once more, so that the error's indices count from the first event
            events_adapter.validate_python(prepared)
        except ValidationError as exc:
            raise _validation_error(exc, ("body", "events") if batch else ("body",), indexed=batch)
        raise


def _stamped(event: dict[str, Any], source: str | None) -> dict[str, Any]:
    stamped = {**event, "source": source} if source is not None else {**event}
    stamped["event_id"] = event.get("event_id") or str(event_id_for(stamped))
    return stamped


def _validate_in_chunks(prepared: list[Any]) -> list[ParticipantEvent]:
    """pydantic-core keeps the interpreter for a whole call: thousands of events in one call would
    stop every other thread (the event loop answering a hospital) for as long. Chunks let it in."""
    events: list[ParticipantEvent] = []
    for start in range(0, len(prepared), VALIDATE_CHUNK):
        events.extend(events_adapter.validate_python(prepared[start : start + VALIDATE_CHUNK]))
    return events


def encode_events(events: Sequence[Event]) -> list[tuple[bytes, bytes, bytes]]:
    """(value, key, event type) per event, in order: what the publisher sends for a batch."""
    return [(e.model_dump_json().encode(), e.kafka_key(), getattr(e, "type", "").encode()) for e in events]

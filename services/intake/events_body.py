"""Decoding a body of participant events: a single event or {"events": [...]} with up to MAX_BATCH.
Pure (no I/O, no web framework: the bulk worker process imports it and little else), so that it runs
the same in the event loop, a thread or the bulk worker process. A bad body raises InvalidBody, whose
errors are RequestValidationError's (the API raises that one: a 422 naming each bad field)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from services.intake.domain.idempotency import event_id_text
from shared.events import PARTICIPANT_EVENT_TYPES, Event, ParticipantEvent, validate_as_sent

MAX_BATCH = 10_000
VALIDATE_CHUNK = 100
events_adapter: TypeAdapter[list[ParticipantEvent]] = TypeAdapter(list[ParticipantEvent])
_KINDS = {kind: kind.encode() for kind in PARTICIPANT_EVENT_TYPES}  # the x-event-type header's value


class InvalidBody(ValueError):
    """A body that is not a valid event or batch; errors() as RequestValidationError has them (loc, msg, type...)."""

    def __init__(self, errors: Sequence[Any]) -> None:
        super().__init__(f"{len(errors)} validation errors")
        self._errors = list(errors)

    def errors(self) -> list[Any]:
        return self._errors


def decode_body(raw: bytes) -> Any:
    """The request's JSON (what FastAPI would have parsed): an empty or malformed body is a 422."""
    if not raw:
        raise InvalidBody([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        pos = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
        raise InvalidBody([{"type": "json_invalid", "loc": ("body", pos), "msg": "JSON decode error"}])


def event_types(body: Any) -> set[str]:
    """The `type`s a body names (a cheap look before validation, for the scope check)."""
    raw = body.get("events") if isinstance(body, dict) and "events" in body else [body]
    if not isinstance(raw, list):
        return set()
    return {e["type"] for e in raw if isinstance(e, dict) and isinstance(e.get("type"), str)}


def parse_events(body: Any, source: str | None = None) -> list[ParticipantEvent]:
    """A single event or {"events": [...]}; every event validated before anything is published.
    `source` (the API key's) replaces whatever source the events claim, before their ids are derived."""
    return [event for chunk in validated_chunks(body, source) for event in chunk]


def validated_chunks(body: Any, source: str | None = None) -> Iterator[list[ParticipantEvent]]:
    """parse_events's events, VALIDATE_CHUNK at a time, so that a caller may encode each part and let its
    models go (the bulk worker). pydantic-core keeps the interpreter for a whole call: thousands of events
    in one call would stop every other thread (the event loop answering a hospital) for as long.
    A bad event stops the parts; every event is still validated, then InvalidBody names every bad one,
    counted from the first event: the parts already given out are then to be thrown away."""
    batch = isinstance(body, dict) and "events" in body
    raw = body["events"] if batch else [body]
    if batch and (set(body) - {"events"}):
        raise InvalidBody(
            [
                {
                    "loc": ("body", sorted(set(body) - {"events"})[0]),
                    "msg": "unexpected field next to 'events'",
                    "type": "extra_forbidden",
                }
            ]
        )
    if not isinstance(raw, list) or not raw or len(raw) > MAX_BATCH:
        raise InvalidBody(
            [
                {
                    "loc": ("body", "events"),
                    "type": "value_error",
                    "msg": f"'events' must be a list of 1 to {MAX_BATCH:,} events",
                }
            ]
        )
    prefix = ("body", "events") if batch else ("body",)
    errors: list[dict[str, Any]] = []
    for start in range(0, len(raw), VALIDATE_CHUNK):
        part = [_stamped(e, source) if isinstance(e, dict) else e for e in raw[start : start + VALIDATE_CHUNK]]
        try:
            # An odd reason or contact number is sorted out rather than refused (the fact is kept).
            events = validate_as_sent(events_adapter.validate_python, part)
        except ValidationError as exc:  # located as one call on the whole list would: from the first event
            errors += [
                {**e, "loc": (*prefix, *((start + int(e["loc"][0]), *e["loc"][1:]) if batch else e["loc"][1:]))}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            continue
        if not errors:
            yield events
    if errors:
        raise InvalidBody(errors)


def _stamped(event: dict[str, Any], source: str | None) -> dict[str, Any]:
    stamped = {**event, "source": source} if source is not None else {**event}
    stamped["event_id"] = event.get("event_id") or event_id_text(stamped)
    return stamped


def encode_events(events: Sequence[Event]) -> list[tuple[bytes, bytes, bytes]]:
    """(value, key, event type) per event, in order: what the publisher sends for a batch. The value is
    model_dump_json's JSON, as bytes straight from pydantic-core."""
    return [(type(e).__pydantic_serializer__.to_json(e), e.kafka_key(), _kind(e)) for e in events]


def _kind(event: Event) -> bytes:
    kind: str = getattr(event, "type", "")
    return _KINDS.get(kind) or kind.encode()

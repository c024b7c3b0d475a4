"""What a provider's webhook says, read without trusting its shape, and which of it is too old to act on.

Replays. WhatsApp (Meta) signs the body only (X-Hub-Signature-256, no signed time), but every status
and every message in it carries the provider's `timestamp` (Unix seconds), covered by that signature.
Twilio signs URL and form, and sends no time at all. So:
- A reply (a citizen's command) whose timestamp is older than `max_age` (5 minutes) is a replay or
  came too late: it is not acted on, except an opt-out (BERHENTI/STOP): stopping messages is what the
  person asked, and honouring a stop late (Meta retries deliveries for days after an outage of ours)
  is safer than sending on.
- Delivery receipts are applied whatever their age: the delivery state only moves forward
  (domain/delivery.next_state), so a replayed receipt changes nothing, and a late genuine one (after
  an outage of ours) is what settles a message left SENDING by a crash.
- Items without a timestamp (Twilio) cannot be judged by age.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_AGE = dt.timedelta(minutes=5)
WHATSAPP_STATES = {"sent": "SENT", "delivered": "DELIVERED", "read": "READ", "failed": "FAILED"}


class MalformedWebhook(ValueError):
    """A signed body that is not the shape the provider documents (answered 400)."""


@dataclass(frozen=True)
class Receipt:
    provider_id: str
    state: str
    reference: str | None  # our message id, when the provider echoes it
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Reply:
    sender: str  # the number as the provider gives it
    text: str
    at: dt.datetime | None = None
    message_id: str | None = None  # the provider's id of the inbound message: it is acted on once


def _timestamp(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromtimestamp(int(str(value)), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedWebhook(f"timestamp {str(value)[:20]!r} is not Unix seconds")


def _list(container: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = container.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise MalformedWebhook(f"{key} is not a list of objects")
    return items


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise MalformedWebhook(f"{key} is not text")
    return value


def parse_whatsapp(payload: Any) -> tuple[list[Receipt], list[Reply]]:
    """Statuses and messages of a WhatsApp Cloud API webhook (entry[].changes[].value)."""
    if not isinstance(payload, dict):
        raise MalformedWebhook("body is not a JSON object")
    receipts: list[Receipt] = []
    replies: list[Reply] = []
    for entry in _list(payload, "entry"):
        for change in _list(entry, "changes"):
            value = change.get("value") or {}
            if not isinstance(value, dict):
                raise MalformedWebhook("value is not an object")
            for status in _list(value, "statuses"):
                if status.get("status") in WHATSAPP_STATES:
                    reference = status.get("biz_opaque_callback_data")
                    receipts.append(
                        Receipt(
                            _text(status, "id"),
                            WHATSAPP_STATES[status["status"]],
                            reference if isinstance(reference, str) else None,
                            _timestamp(status.get("timestamp")),
                        )
                    )
            for message in _list(value, "messages"):
                body = message.get("text") or {}
                text = body.get("body", "") if isinstance(body, dict) else ""
                message_id = message.get("id")
                replies.append(
                    Reply(
                        _text(message, "from"),
                        text if isinstance(text, str) else "",
                        _timestamp(message.get("timestamp")),
                        message_id if isinstance(message_id, str) and message_id else None,
                    )
                )
    return receipts, replies


def to_act_on(
    replies: list[Reply], now: dt.datetime, is_opt_out: Callable[[str], bool], max_age: dt.timedelta = MAX_AGE
) -> tuple[list[Reply], list[Reply]]:
    """(acted on, ignored as stale): see the module's docstring."""
    kept: list[Reply] = []
    stale: list[Reply] = []
    for reply in replies:
        too_old = reply.at is not None and now - reply.at > max_age
        (stale if too_old and not is_opt_out(reply.text) else kept).append(reply)
    return kept, stale

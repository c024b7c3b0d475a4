"""What the services agree on about appeals: the short reference a person types on WhatsApp
(`BANDING <reference>`) and the id of an appeal opened by one inbound message.

The notifier names a rejected request by its reference in the rejection message and publishes an
`AppealRequested` with `request_ref` (the text as typed) when `BANDING <reference>` comes from the
number on file; eligibility resolves the reference among that NIK's requests (matches_reference)."""

from __future__ import annotations

import uuid

REFERENCE_LENGTH = 8  # hex digits: unique enough among one person's requests, short enough to type
MIN_REFERENCE = 6
_NAMESPACE = uuid.UUID("c1f3a0e2-5b7d-4c9e-8a61-2d4f6b8e0a13")


def request_reference(request_id: uuid.UUID) -> str:
    """The reference of a request as people see it: its first 8 hex digits, upper case (e.g. 3F2A9C1B)."""
    return request_id.hex[:REFERENCE_LENGTH].upper()


def normalize_reference(text: str) -> str:
    """The reference as typed, without case, dashes or spaces."""
    return "".join(c for c in text.lower() if c not in "- ")


def matches_reference(request_id: uuid.UUID, text: str) -> bool:
    """Whether `text` (a reference or the whole id, any case) names this request."""
    ref = normalize_reference(text)
    return len(ref) >= MIN_REFERENCE and request_id.hex.startswith(ref)


def appeal_id_for_message(message_id: str) -> uuid.UUID:
    """One inbound WhatsApp message opens at most one appeal: a redelivered webhook gives the same id."""
    return uuid.uuid5(_NAMESPACE, f"whatsapp:{message_id}")


def reference_range(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The ids a reference can name, as a range of the primary key (an index range scan, not a text
    match over every request); None when it is too short or not hex."""
    ref = normalize_reference(text)
    if len(ref) < MIN_REFERENCE or len(ref) > 32 or any(c not in "0123456789abcdef" for c in ref):
        return None
    return uuid.UUID(ref.ljust(32, "0")), uuid.UUID(ref.ljust(32, "f"))

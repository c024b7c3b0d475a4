"""Channel choice, consent and delivery-state rules (pure)."""

from __future__ import annotations

from enum import StrEnum

WHATSAPP, SMS = "WHATSAPP", "SMS"


class Action(StrEnum):
    SEND = "SEND"
    SKIP = "SKIP"  # opted out: never sent, recorded as SKIPPED


def first_channel(on_whatsapp: bool | None) -> str:
    """WhatsApp first unless we know the number is not on WhatsApp (None = unknown: try WhatsApp)."""
    return SMS if on_whatsapp is False else WHATSAPP


def after_permanent_failure(channel: str) -> str | None:
    """The next channel after a permanent refusal (invalid/not-on-WhatsApp number), or None: give up."""
    return SMS if channel == WHATSAPP else None


def action_for(opted_out: bool) -> Action:
    return Action.SKIP if opted_out else Action.SEND


REPLY = "reply_"  # kind prefix of an answer to the person's own command (CEK, MULAI, help)


def obeys_opt_out(kind: str) -> bool:
    """An opt-out stops what we send of our own accord; an answer the person just asked for (CEK after
    BERHENTI) is not unsolicited. A reply already queued is still cancelled by a later BERHENTI."""
    return not kind.startswith(REPLY)


# Receipts may arrive out of order (read before delivered) or twice: the state only moves forward.
_RANK = {"QUEUED": 0, "SENDING": 1, "SENT": 2, "DELIVERED": 3, "READ": 4}
FINAL = {"FAILED", "SKIPPED"}


def next_state(current: str, receipt: str) -> str:
    """The state after a provider receipt. FAILED after SENT is honoured (undelivered); nothing
    moves a message back, and READ/DELIVERED win over a late FAILED for the same message."""
    if current in FINAL and current != "FAILED":
        return current
    if receipt == "FAILED":
        return current if _RANK.get(current, 0) >= _RANK["DELIVERED"] else "FAILED"
    if current == "FAILED":
        return current
    return receipt if _RANK.get(receipt, 0) > _RANK.get(current, 0) else current

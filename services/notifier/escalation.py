"""Escalations to the on-call operations contact (domain/escalation.py says who and what).

The notifier's handler of the timer topic asks here for every batch's escalations: each WARNING and
BREACHED of an emergency becomes one urgent message row (id derived from request and state, inserted
once: a redelivered or re-fired state adds nothing, so it needs no inbox row), sent by the ordinary
sender with its retries, dead letters and crash recovery. A webhook target is one more provider: a JSON
POST with a bearer token from settings."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from services.notifier import metrics
from services.notifier.domain.escalation import (
    WEBHOOK,
    Escalation,
    Target,
    escalation_for,
    target_for,
    text_for,
    webhook_body,
)
from services.notifier.providers import classify, transport_error
from services.notifier.sender import Sender
from services.notifier.settings import NotifierSettings
from shared import correlation
from shared.events import EmergencySlaChanged
from shared.nik import mask_nik

log = structlog.get_logger(__name__)
Clock = Callable[[], dt.datetime]


class Webhook:
    """An operations system's endpoint: the escalation as JSON, `Authorization: Bearer` from settings."""

    channel = WEBHOOK

    def __init__(self, settings: NotifierSettings, client: httpx.AsyncClient) -> None:
        self.s, self.client = settings, client

    async def send(self, to: str, text: str, reference: str) -> str:
        headers = {"Content-Type": "application/json", "Idempotency-Key": reference}
        if token := self.s.escalation_webhook_token.get_secret_value():
            headers["Authorization"] = f"Bearer {token}"
        try:
            r = await self.client.post(to, content=text.encode(), headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        if r.status_code >= 300:
            raise classify(r.status_code, r.text)
        return reference

    async def lookup(self, reference: str, to: str, text: str) -> str | None:
        return None  # cannot be asked: a crash mid-send posts again, with the same Idempotency-Key


@dataclass
class EscalationPlan:
    """A batch's escalations: a row per SLA change to tell (keyed by its event: the row's id, derived from
    request and state, de-duplicates it), and the SLA changes nobody is configured to be told of."""

    rows: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    unaddressed: dict[uuid.UUID, tuple[str, str, str]] = field(default_factory=dict)  # (nik, kind, state)


class Escalations:
    """Asked by the notifier's handler for each batch's escalations; counts them once committed."""

    def __init__(self, settings: NotifierSettings, clock: Clock) -> None:
        self.settings, self.clock = settings, clock

    def plan(self, events: Sequence[Any], now: dt.datetime) -> EscalationPlan:
        result = EscalationPlan()
        for e in events:
            if not isinstance(e, EmergencySlaChanged) or (escalation := escalation_for(e)) is None:
                continue
            target = target_for(e.nik, self.settings.escalation_contacts, self.settings.escalation_default or None)
            if target is None:
                result.unaddressed[e.event_id] = (e.nik, escalation.kind, escalation.state.value)
            else:
                result.rows[e.event_id] = self.row(e, escalation, target, now)
        return result

    def count(self, queued: list[tuple[str, str]], unaddressed: Iterable[tuple[str, str, str]]) -> None:
        for kind, channel in queued:
            metrics.ESCALATIONS.labels(kind.removeprefix("escalation_").upper(), channel).inc()
        for nik, kind, state in unaddressed:
            metrics.NOT_SENT.labels(kind, "no_contact").inc()
            log.warning("no_escalation_contact", nik=mask_nik(nik), state=state)

    def row(self, e: EmergencySlaChanged, escalation: Escalation, target: Target, now: dt.datetime) -> dict[str, Any]:
        text = webhook_body(e, escalation.message_id) if target.channel == WEBHOOK else text_for(e)
        return {
            "message_id": escalation.message_id,
            "nik": e.nik,
            "kind": escalation.kind,
            "urgent": True,  # quiet hours never hold an emergency
            "text": text,
            "phone": target.address,  # the on-call number or the webhook URL
            "channel": target.channel,
            "state": "QUEUED",
            "send_after": now,
            "updated_at": now,
            "attempts": 0,
            "correlation_id": correlation.for_event(e.event_id),
            "event_id": e.event_id,
        }


def install(settings: NotifierSettings, clock: Clock, sender: Sender, http: httpx.AsyncClient) -> Escalations:
    """The webhook channel on the sender, and the escalations for the handler of the timer topic."""
    sender.add_provider(Webhook(settings, http))
    return Escalations(settings, clock)

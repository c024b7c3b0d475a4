"""Escalations to the on-call operations contact (domain/escalation.py says who and what).

The notifier's handler of the timer topic passes every batch here, in its transaction: each WARNING and
BREACHED of an emergency becomes one urgent message row (id derived from request and state, inserted
once: a redelivered or re-fired state adds nothing), sent by the ordinary sender with its retries, dead
letters and crash recovery. A webhook target is one more provider: a JSON POST with a bearer token from
settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier import metrics
from services.notifier.domain.escalation import WEBHOOK, escalation_for, target_for, text_for, webhook_body
from services.notifier.providers import classify, transport_error
from services.notifier.sender import Sender
from services.notifier.settings import NotifierSettings
from services.notifier.store import M
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


class Escalations:
    """Called by the notifier's handler in its batch's transaction (after the processed-id claim)."""

    def __init__(self, settings: NotifierSettings, clock: Clock) -> None:
        self.settings, self.clock = settings, clock

    async def queue(self, session: AsyncSession, events: list[Any]) -> list[tuple[str, str]]:
        """Queue the escalations of the batch's SLA changes; (kind, channel) of those queued now, not before."""
        rows = [row for e in events if isinstance(e, EmergencySlaChanged) and (row := self.row(e)) is not None]
        if not rows:
            return []
        stmt = insert(M).values(rows).on_conflict_do_nothing(index_elements=["message_id"])
        return [(k, c) for k, c in (await session.execute(stmt.returning(M.c.kind, M.c.channel))).all()]

    def count(self, queued: list[tuple[str, str]]) -> None:
        for kind, channel in queued:
            metrics.ESCALATIONS.labels(kind.removeprefix("escalation_").upper(), channel).inc()

    def row(self, e: EmergencySlaChanged) -> dict[str, Any] | None:
        escalation = escalation_for(e)
        if escalation is None:
            return None
        target = target_for(e.nik, self.settings.escalation_contacts, self.settings.escalation_default or None)
        if target is None:
            metrics.NOT_SENT.labels(escalation.kind, "no_contact").inc()
            log.warning("no_escalation_contact", nik=mask_nik(e.nik), state=escalation.state.value)
            return None
        now = self.clock()
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
        }


def install(settings: NotifierSettings, clock: Clock, sender: Sender, http: httpx.AsyncClient) -> Escalations:
    """The webhook channel on the sender, and the escalations for the handler of the timer topic."""
    sender.add_provider(Webhook(settings, http))
    return Escalations(settings, clock)

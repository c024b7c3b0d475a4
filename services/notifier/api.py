"""Provider webhooks on port 8082: delivery receipts and citizens' inbound messages (CEK, BANDING,
BERHENTI/STOP, MULAI: services/notifier/inbound.py).

Every request is authenticated by the provider's signature over the raw body before it is parsed:
missing or bad signature 401 (a header that is not even ASCII included), a signed body that is not
the provider's shape 400. Inbound messages older than 5 minutes are not acted on, except opt-outs
(domain/webhooks.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier import metrics
from services.notifier.domain.delivery import next_state
from services.notifier.domain.messages import is_opt_out
from services.notifier.domain.webhooks import parse_whatsapp, to_act_on
from services.notifier.inbound import Inbound
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import form_pairs, twilio_valid, valid, whatsapp_signature
from services.notifier.store import SCHEMA, M, outbox
from shared.db import transaction
from shared.outbox import add_to_outbox
from shared.phone import PhoneError, normalize_phone
from shared.problems import problem_responses

log = structlog.get_logger(__name__)

router = APIRouter(tags=["webhooks"])
TWILIO_STATES = {
    "queued": "SENT",
    "sent": "SENT",
    "delivered": "DELIVERED",
    "read": "READ",
    "failed": "FAILED",
    "undelivered": "FAILED",
}


@router.get(
    "/webhooks/whatsapp", response_class=PlainTextResponse, responses=problem_responses(403, 422, s403="Wrong token")
)
async def whatsapp_verify(
    request: Request,
    mode: str = Query(alias="hub.mode"),
    token: str = Query(alias="hub.verify_token"),
    challenge: str = Query(alias="hub.challenge"),
) -> str:
    settings: NotifierSettings = request.app.state.settings
    if mode != "subscribe" or not valid(settings.whatsapp_verify_token.get_secret_value(), token):
        raise HTTPException(403, "verification token mismatch")
    return challenge


Receipt = tuple[str, str, str | None]  # (provider message id, state, our message id if the provider echoes it)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _apply(request: Request, receipts: list[Receipt], replies: list[Inbound], provider: str) -> None:
    """A webhook's receipts in one transaction whatever their number (a WhatsApp webhook carries a list):
    their messages read and locked in one statement, the new states written in one, announced through
    the outbox in the same transaction; the relay publishes them within a quarter second, one pass for the
    webhooks of that time (Sender.wake_relay_soon)."""
    for _, receipt, _ in receipts:
        metrics.DELIVERY.labels(provider, receipt).inc()
    if receipts:
        sender = request.app.state.sender
        async with transaction(request.app.state.sessions) as session:
            changed = _fold_receipts(await _locked(session, receipts), receipts, provider)
            if changed:
                now = dt.datetime.now(dt.UTC)
                await session.execute(
                    _RECORD_RECEIPTS,
                    {
                        "ids": [r["message_id"] for r in changed],
                        "states": [r["state"] for r in changed],
                        "providers": [r["provider_message_id"] for r in changed],
                        "updated": [now] * len(changed),
                    },
                )
            # Every state a receipt moved the message to is announced (SENT, DELIVERED, READ each).
            announced = [a for r in changed for state in r.pop("_states") for a in sender.announcement(r, state)]
            await add_to_outbox(session, outbox, announced, skip_waiting=True)
        if announced:
            sender.wake_relay_soon()
    if replies:
        await request.app.state.commands.handle(replies)


_RECORD_RECEIPTS = text(
    f"update {SCHEMA}.messages m set state = u.state, provider_message_id = u.provider_message_id, "
    "updated_at = u.updated_at from unnest(cast(:ids as uuid[]), cast(:states as text[]), "
    "cast(:providers as text[]), cast(:updated as timestamptz[])) "
    "as u(message_id, state, provider_message_id, updated_at) where m.message_id = u.message_id"
)


# The messages a webhook's receipts name, locked in message id order (as the sender's _LOCK_IN_ORDER takes them).
# Written out once: the same select built per request (or_ of two any_of literals) cost about 0.5 ms more CPU a
# webhook in SQLAlchemy's cache key and literal processing than this statement (issue 20). Typed as the table's
# columns, so the rows read are those select(M) gave.
_LOCKED = text(
    f"select {', '.join(c.name for c in M.c)} from {SCHEMA}.messages "
    "where message_id = any(cast(:ours as uuid[])) or provider_message_id = any(cast(:theirs as text[])) "
    "order by message_id for update"
).columns(*M.c)


async def _locked(session: AsyncSession, receipts: list[Receipt]) -> list[dict[str, Any]]:
    """The messages the receipts name, locked: by our own reference first (it also resolves a message
    left SENDING by a crash), else by the provider's id."""
    ours = list({ref for _, _, reference in receipts if (ref := _uuid(reference))})
    theirs = list({provider_id for provider_id, _, reference in receipts if not _uuid(reference)})
    return [dict(r) for r in (await session.execute(_LOCKED, {"ours": ours, "theirs": theirs})).mappings()]


def _fold_receipts(rows: list[dict[str, Any]], receipts: list[Receipt], provider: str) -> list[dict[str, Any]]:
    """The messages whose state the receipts move forward (in the receipts' order), as they end."""
    by_id = {r["message_id"]: r for r in rows}
    by_provider = {r["provider_message_id"]: r for r in rows if r["provider_message_id"]}
    changed: dict[uuid.UUID, dict[str, Any]] = {}
    for provider_id, receipt, reference in receipts:
        ref = _uuid(reference)
        row = by_id.get(ref) if ref else by_provider.get(provider_id)
        if row is None:
            continue
        state = next_state(row["state"], receipt)
        if state != row["state"]:
            row.update(state=state, provider_message_id=provider_id, channel=provider)
            row.setdefault("_states", []).append(state)
            changed[row["message_id"]] = row
    return list(changed.values())


def _e164(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except PhoneError:
        return raw


def _clock(request: Request) -> dt.datetime:
    sender = getattr(request.app.state, "sender", None)
    return sender.clock() if sender is not None else dt.datetime.now(dt.UTC)


class Received(BaseModel):
    status: Literal["ok"] = "ok"


WEBHOOK_ERRORS = problem_responses(
    400, 401, s400="Signed, but not the provider's shape", s401="Missing or bad provider signature"
)


@router.post("/webhooks/whatsapp", response_model=Received, responses=WEBHOOK_ERRORS)
async def whatsapp_events(request: Request) -> dict[str, str]:
    settings: NotifierSettings = request.app.state.settings
    body = await request.body()
    # The signature covers the raw body: checked before a byte of it is parsed.
    secret = settings.whatsapp_app_secret.get_secret_value()
    if not valid(whatsapp_signature(secret, body), request.headers.get("X-Hub-Signature-256")):
        raise HTTPException(401, "missing or bad signature")
    try:
        receipts, replies = parse_whatsapp(json.loads(body or b"{}"))
    except (ValueError, RecursionError) as exc:  # JSON errors are ValueErrors, MalformedWebhook too
        raise HTTPException(400, f"malformed webhook body: {type(exc).__name__}")
    replies, stale = to_act_on(replies, _clock(request), is_opt_out)
    if stale:
        log.warning("webhook_replies_too_old", provider="WHATSAPP", ignored=len(stale))
    await _apply(
        request,
        [(r.provider_id, r.state, r.reference) for r in receipts],
        [Inbound(r.message_id, _e164("+" + r.sender), r.text, "WHATSAPP", r.at) for r in replies],
        "WHATSAPP",
    )
    return {"status": "ok"}


@router.post("/webhooks/twilio", response_model=Received, responses=WEBHOOK_ERRORS)
async def twilio_events(request: Request) -> dict[str, str]:
    settings: NotifierSettings = request.app.state.settings
    # Form pairs as bytes (repeated keys kept): the signature is checked before anything is decoded.
    pairs = form_pairs(await request.body())
    # Twilio signs the URL it called (as we configured it, query included) plus the sorted POST params.
    query = request.url.query
    url = settings.public_base_url + "/webhooks/twilio" + (f"?{query}" if query else "")
    token = settings.twilio_auth_token.get_secret_value()
    if not twilio_valid(token, url, pairs, request.headers.get("X-Twilio-Signature")):
        raise HTTPException(401, "missing or bad signature")
    try:
        params = {k.decode(): v.decode() for k, v in pairs}
    except UnicodeDecodeError:
        raise HTTPException(400, "form body is not UTF-8")
    receipts: list[Receipt] = (
        [(params["MessageSid"], TWILIO_STATES[params["MessageStatus"]], request.query_params.get("ref"))]
        if params.get("MessageStatus") in TWILIO_STATES and "MessageSid" in params
        else []
    )
    replies = (
        [Inbound(params.get("MessageSid") or None, _e164(params["From"]), params["Body"], "SMS")]
        if "Body" in params and "From" in params
        else []
    )
    await _apply(request, receipts, replies, "SMS")
    return {"status": "ok"}

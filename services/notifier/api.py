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
from sqlalchemy import select, update

from services.notifier import metrics
from services.notifier.domain.delivery import next_state
from services.notifier.domain.messages import is_opt_out
from services.notifier.domain.webhooks import parse_whatsapp, to_act_on
from services.notifier.inbound import Inbound
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import form_pairs, twilio_valid, valid, whatsapp_signature
from services.notifier.store import M
from shared.db import transaction
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
    changed: list[dict[str, Any]] = []
    async with transaction(request.app.state.sessions) as session:
        for provider_id, receipt, reference in receipts:
            metrics.DELIVERY.labels(provider, receipt).inc()
            ref = _uuid(reference)
            # Our own reference first: it also resolves a message left SENDING by a crash.
            match = M.c.message_id == ref if ref else M.c.provider_message_id == provider_id
            row = (await session.execute(select(M).where(match).with_for_update())).mappings().first()
            if row is None:
                continue
            state = next_state(row["state"], receipt)
            if state != row["state"]:
                await session.execute(
                    update(M)
                    .where(M.c.message_id == row["message_id"])
                    .values(state=state, provider_message_id=provider_id, updated_at=dt.datetime.now(dt.UTC))
                )
                changed.append({**row, "state": state, "channel": provider})
    if replies:
        await request.app.state.commands.handle(replies)
    for update_ in changed:
        await request.app.state.sender.announce(update_, update_["state"])


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

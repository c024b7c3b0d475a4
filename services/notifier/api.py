"""Provider webhooks on port 8082: delivery receipts and replies (BERHENTI/STOP opts out at once)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import update

from services.notifier import metrics
from services.notifier.domain.messages import is_opt_out
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import twilio_signature, valid, whatsapp_signature
from services.notifier.store import C, M
from shared.db import transaction
from shared.phone import PhoneError, normalize_phone

router = APIRouter(tags=["webhooks"])
WHATSAPP_STATES = {"sent": "SENT", "delivered": "DELIVERED", "read": "READ", "failed": "FAILED"}
TWILIO_STATES = {
    "queued": "SENT",
    "sent": "SENT",
    "delivered": "DELIVERED",
    "read": "READ",
    "failed": "FAILED",
    "undelivered": "FAILED",
}


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
async def whatsapp_verify(
    request: Request,
    mode: str = Query(alias="hub.mode"),
    token: str = Query(alias="hub.verify_token"),
    challenge: str = Query(alias="hub.challenge"),
) -> str:
    settings: NotifierSettings = request.app.state.settings
    if mode != "subscribe" or not valid(settings.whatsapp_verify_token, token):
        raise HTTPException(403, "verification token mismatch")
    return challenge


async def _apply(
    request: Request, receipts: list[tuple[str, str]], replies: list[tuple[str, str]], provider: str
) -> None:
    async with transaction(request.app.state.sessions) as session:
        for provider_id, state in receipts:
            metrics.DELIVERY.labels(provider, state).inc()
            await session.execute(
                update(M)
                .where(M.c.provider_message_id == provider_id)
                .values(state=state, updated_at=dt.datetime.now(dt.UTC))
            )
        for phone, text in replies:
            if is_opt_out(text):
                metrics.OPT_OUTS.inc()
                await session.execute(update(C).where(C.c.phone == phone).values(opted_out=True))
                await session.execute(
                    update(M).where(M.c.phone == phone, M.c.state == "QUEUED").values(state="SKIPPED")
                )


def _e164(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except PhoneError:
        return raw


@router.post("/webhooks/whatsapp")
async def whatsapp_events(request: Request) -> dict[str, str]:
    settings: NotifierSettings = request.app.state.settings
    body = await request.body()
    if not valid(whatsapp_signature(settings.whatsapp_app_secret, body), request.headers.get("X-Hub-Signature-256")):
        raise HTTPException(403, "bad signature")
    payload: dict[str, Any] = json.loads(body or b"{}")
    receipts, replies = [], []
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value", {})
            receipts += [
                (s["id"], WHATSAPP_STATES[s["status"]])
                for s in value.get("statuses", [])
                if s.get("status") in WHATSAPP_STATES
            ]
            replies += [(_e164("+" + m["from"]), m.get("text", {}).get("body", "")) for m in value.get("messages", [])]
    await _apply(request, receipts, replies, "WHATSAPP")
    return {"status": "ok"}


@router.post("/webhooks/twilio")
async def twilio_events(request: Request) -> dict[str, str]:
    settings: NotifierSettings = request.app.state.settings
    params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    expected = twilio_signature(settings.twilio_auth_token, settings.public_base_url + "/webhooks/twilio", params)
    if not valid(expected, request.headers.get("X-Twilio-Signature")):
        raise HTTPException(403, "bad signature")
    receipts = (
        [(params["MessageSid"], TWILIO_STATES[params["MessageStatus"]])]
        if params.get("MessageStatus") in TWILIO_STATES and "MessageSid" in params
        else []
    )
    replies = [(_e164(params["From"]), params["Body"])] if "Body" in params and "From" in params else []
    await _apply(request, receipts, replies, "SMS")
    return {"status": "ok"}

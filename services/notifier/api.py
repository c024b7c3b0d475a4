"""Provider webhooks on port 8082: delivery receipts and replies (BERHENTI/STOP opts out at once)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import select, update

from services.notifier import metrics
from services.notifier.domain.delivery import next_state
from services.notifier.domain.messages import is_opt_out
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import twilio_signature, valid, whatsapp_signature
from services.notifier.store import C, M
from shared.db import transaction
from shared.phone import PhoneError, mask_phone, normalize_phone

log = structlog.get_logger(__name__)

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


Receipt = tuple[str, str, str | None]  # (provider message id, state, our message id if the provider echoes it)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _apply(request: Request, receipts: list[Receipt], replies: list[tuple[str, str]], provider: str) -> None:
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
        for phone, text in replies:
            if is_opt_out(text):
                metrics.OPT_OUTS.inc()
                log.info("opted_out", phone=mask_phone(phone), provider=provider)
                await session.execute(update(C).where(C.c.phone == phone).values(opted_out=True))
                await session.execute(
                    update(M).where(M.c.phone == phone, M.c.state == "QUEUED").values(state="SKIPPED")
                )
    for update_ in changed:
        await request.app.state.sender.announce(update_, update_["state"])


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
    receipts: list[Receipt] = []
    replies: list[tuple[str, str]] = []
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value", {})
            receipts += [
                (s["id"], WHATSAPP_STATES[s["status"]], s.get("biz_opaque_callback_data"))
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
    # Twilio signs the URL it called (as we configured it, query included) plus the sorted POST params.
    query = request.url.query
    url = settings.public_base_url + "/webhooks/twilio" + (f"?{query}" if query else "")
    expected = twilio_signature(settings.twilio_auth_token, url, params)
    if not valid(expected, request.headers.get("X-Twilio-Signature")):
        raise HTTPException(403, "bad signature")
    receipts: list[Receipt] = (
        [(params["MessageSid"], TWILIO_STATES[params["MessageStatus"]], request.query_params.get("ref"))]
        if params.get("MessageStatus") in TWILIO_STATES and "MessageSid" in params
        else []
    )
    replies = [(_e164(params["From"]), params["Body"])] if "Body" in params and "From" in params else []
    await _apply(request, receipts, replies, "SMS")
    return {"status": "ok"}

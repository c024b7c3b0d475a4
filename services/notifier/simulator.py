"""A local provider simulator speaking the WhatsApp Cloud API and Twilio's Messages API.

Records what it received (GET /_sim/messages), injects failures (POST /_sim/faults), and calls the
notifier's webhooks back with valid signatures. Used by the tests and `make demo`."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.notifier.settings import NotifierSettings
from services.notifier.signatures import twilio_signature, whatsapp_signature


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    s = settings or NotifierSettings()
    webhook_base = os.environ.get("SIMULATOR_WEBHOOK_BASE", s.public_base_url)
    app = FastAPI(title="provider simulator")
    state: dict[str, Any] = {"messages": [], "by_ref": {}, "faults": {}, "invalid": set()}

    async def fault(channel: str) -> JSONResponse | None:
        f = state["faults"].get(channel) or {}
        if f.get("times", 0) > 0:
            f["times"] -= 1
            if f.get("timeout"):
                await asyncio.sleep(f["timeout"])
            return JSONResponse({"error": {"message": "injected"}}, status_code=f.get("status", 500))
        if random.random() < f.get("timeout_rate", 0):
            await asyncio.sleep(f.get("timeout_s", 30))
        if random.random() < f.get("fail_rate", 0):
            return JSONResponse({"error": {"message": "injected"}}, status_code=500)
        return None

    async def callback(path: str, **kw: Any) -> None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(webhook_base + path, **kw)
        except httpx.HTTPError:
            pass  # the notifier may be down: real providers retry, the demo does not need to

    def record(channel: str, to: str, text: str, reference: str | None) -> str:
        if reference and reference in state["by_ref"]:
            return state["by_ref"][reference]  # idempotent: the same reference is one message
        mid = ("wamid." if channel == "WHATSAPP" else "SM") + uuid.uuid4().hex
        state["messages"].append({"id": mid, "channel": channel, "to": to, "text": text, "reference": reference})
        if reference:
            state["by_ref"][reference] = mid
        return mid

    @app.post("/{version}/{phone_number_id}/messages")
    async def whatsapp(version: str, phone_number_id: str, request: Request) -> Any:
        if (r := await fault("WHATSAPP")) is not None:
            return r
        body = await request.json()
        if body.get("to") in state["invalid"]:
            return JSONResponse({"error": {"code": 131026, "message": "Receiver is incapable of receiving"}}, 400)
        text = body["template"]["components"][0]["parameters"][0]["text"]
        mid = record("WHATSAPP", "+" + body["to"], text, body.get("biz_opaque_callback_data"))
        payload = {"entry": [{"changes": [{"value": {"statuses": [{"id": mid, "status": "delivered"}]}}]}]}
        raw = httpx.Request("POST", "/", json=payload).content
        asyncio.create_task(
            callback(
                "/webhooks/whatsapp",
                content=raw,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": whatsapp_signature(s.whatsapp_app_secret, raw),
                },
            )
        )
        return {"messaging_product": "whatsapp", "contacts": [{"wa_id": body["to"]}], "messages": [{"id": mid}]}

    @app.post("/2010-04-01/Accounts/{sid}/Messages.json")
    async def twilio(sid: str, request: Request) -> Any:
        if (r := await fault("SMS")) is not None:
            return r
        form = dict(parse_qsl((await request.body()).decode()))
        mid = record("SMS", str(form["To"]), str(form["Body"]), request.headers.get("I-Twilio-Idempotency-Token"))
        params = {"MessageSid": mid, "MessageStatus": "delivered", "To": str(form["To"])}
        url = webhook_base + "/webhooks/twilio"
        asyncio.create_task(
            callback(
                "/webhooks/twilio",
                data=params,
                headers={
                    "X-Twilio-Signature": twilio_signature(
                        s.twilio_auth_token, s.public_base_url + "/webhooks/twilio", params
                    )
                },
            )
        )
        del url
        return JSONResponse({"sid": mid, "status": "queued"}, status_code=201)

    @app.get("/_sim/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_sim/messages")
    async def messages() -> list[dict[str, Any]]:
        return state["messages"]

    @app.get("/_sim/lookup")
    async def lookup(reference: str) -> Any:
        mid = state["by_ref"].get(reference)
        return {"id": mid} if mid else JSONResponse({"id": None}, status_code=404)

    @app.post("/_sim/faults")
    async def faults(request: Request) -> dict[str, Any]:
        """{"WHATSAPP": {"status": 500, "times": 2}} or {"SMS": {"fail_rate": 0.5, "timeout_rate": 0.1}};
        {"invalid_whatsapp": ["6281..."]} marks numbers as not on WhatsApp."""
        body = await request.json()
        state["invalid"].update(body.pop("invalid_whatsapp", []))
        state["faults"].update(body)
        return {"faults": state["faults"], "invalid_whatsapp": sorted(state["invalid"])}

    @app.post("/_sim/reset")
    async def reset() -> dict[str, str]:
        state.update(messages=[], by_ref={}, faults={}, invalid=set())
        return {"status": "reset"}

    return app

"""A local provider simulator speaking the WhatsApp Cloud API and Twilio's Messages API.

- WhatsApp: POST /{version}/{phone_number_id}/messages (Bearer token, JSON template message).
- Twilio: POST /2010-04-01/Accounts/{sid}/Messages.json (basic auth, form To/From/Body/StatusCallback),
  GET the same path lists messages (To=, DateSent>=) as Twilio does.
- Records what it received: GET /_sim/messages (`?to=` one number). Reset: POST /_sim/reset.
- A citizen's inbound WhatsApp message: POST /_sim/inbound {"from", "text"} is posted, signed, to the
  notifier's webhook as the Cloud API sends it (see `inbound`).
- Failure injection: POST /_sim/faults with per channel ("whatsapp"/"sms", any case)
  {"status": 500, "times": 2} (the next two requests fail), {"timeout": 3, "times": 1} (hang 3 s),
  {"fail_rate": 0.5, "timeout_rate": 0.1, "timeout_s": 30} (random), and
  {"invalid_whatsapp": ["62812..."]} / {"invalid_sms": ["+62812..."]} for numbers refused for good.
- Calls the notifier's webhooks back with valid signatures (X-Hub-Signature-256 with the app secret;
  X-Twilio-Signature over the StatusCallback URL and the sorted form params with the auth token), through
  one HTTP client (a client per callback cost 22 CPU ms of TLS set-up each, issue 20). WhatsApp statuses
  are sent as the Cloud API's webhook carries them, a list per notification: the statuses of the last
  BATCH_WINDOW_S (at most BATCH_MAX) in one POST; Twilio calls each message's StatusCallback on its own.
Run: `pbi run simulator` (port 8090). Used by the tests and `make demo`."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.notifier.providers.whatsapp import WhatsAppCloud
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import twilio_signature, whatsapp_signature

BATCH_WINDOW_S = 0.05  # how long a WhatsApp status waits for others to share its webhook
BATCH_MAX = 100


class SimulatorWhatsApp(WhatsAppCloud):
    """The WhatsApp provider as wired in local development (PBI_ENV=local, services/notifier/app.py):
    the real Cloud API client, plus a lookup that asks this simulator's /_sim/lookup, an endpoint only
    the simulator has. The production provider (WhatsAppCloud) never calls a /_sim path."""

    async def lookup(self, reference: str, to: str, text: str) -> str | None:
        try:
            r = await self.client.get(f"{self.s.whatsapp_api_base}/_sim/lookup", params={"reference": reference})
        except httpx.TransportError:
            return None
        return r.json().get("id") if r.status_code == 200 else None


def create_app(settings: NotifierSettings | None = None, callbacks: httpx.AsyncClient | None = None) -> FastAPI:
    """`callbacks`: the client the webhooks go out through (tests give one with a mock transport)."""
    s = settings or NotifierSettings()
    webhook_base = os.environ.get("SIMULATOR_WEBHOOK_BASE", s.public_base_url)
    state: dict[str, Any] = {"messages": [], "by_ref": {}, "faults": {}, "invalid": set(), "invalid_sms": set()}
    tasks: set[asyncio.Task[None]] = set()
    clients: list[httpx.AsyncClient] = [callbacks] if callbacks else []
    statuses: dict[str, list[dict[str, Any]]] = {}  # phone_number_id -> statuses waiting for their webhook
    flushing: set[str] = set()  # accounts whose webhook is scheduled

    def http() -> httpx.AsyncClient:
        if not clients:  # made on first use: an app driven without its lifespan (ASGITransport) has one too
            clients.append(httpx.AsyncClient(timeout=5))
        return clients[0]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for client in clients:
            await client.aclose()

    app = FastAPI(title="provider simulator", lifespan=lifespan)

    async def fault(channel: str, accept: Any = None) -> JSONResponse | None:
        """`accept` records the message: with {"accept": true} a timeout happens after the provider
        took the message (the caller cannot know), otherwise before."""
        f = state["faults"].get(channel) or {}
        if f.get("times", 0) > 0:
            f["times"] -= 1
            if f.get("accept") and accept is not None:
                accept()
            if f.get("timeout"):
                await asyncio.sleep(f["timeout"])
            return JSONResponse(
                {"error": {"message": "injected", "code": 1}, "code": 20500, "message": "injected"},
                status_code=f.get("status", 500),
            )
        if random.random() < f.get("timeout_rate", 0):
            await asyncio.sleep(f.get("timeout_s", 30))
        if random.random() < f.get("fail_rate", 0):
            return JSONResponse({"error": {"message": "injected"}}, status_code=500)
        return None

    async def callback(url: str, **kw: Any) -> None:
        try:
            await http().post(url, **kw)
        except httpx.HTTPError:
            pass  # the notifier may be down: real providers retry later, the simulator does not

    def whatsapp_status(phone_number_id: str, status: dict[str, Any]) -> None:
        """Queued for the next status webhook of the number's account (one sender per account at a time)."""
        statuses.setdefault(phone_number_id, []).append(status)
        if phone_number_id not in flushing:
            flushing.add(phone_number_id)
            later(send_statuses(phone_number_id))

    async def send_statuses(phone_number_id: str) -> None:
        try:
            await asyncio.sleep(BATCH_WINDOW_S)
            while waiting := statuses.get(phone_number_id):
                batch, statuses[phone_number_id] = waiting[:BATCH_MAX], waiting[BATCH_MAX:]
                value = {"messaging_product": "whatsapp", "statuses": batch}
                payload = {
                    "object": "whatsapp_business_account",
                    "entry": [{"id": phone_number_id, "changes": [{"field": "messages", "value": value}]}],
                }
                raw = json.dumps(payload).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": whatsapp_signature(s.whatsapp_app_secret.get_secret_value(), raw),
                }
                await callback(webhook_base + "/webhooks/whatsapp", content=raw, headers=headers)
        finally:
            flushing.discard(phone_number_id)

    def later(coro: Any) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def record(channel: str, to: str, text: str, reference: str | None) -> str:
        mid = ("wamid." if channel == "WHATSAPP" else "SM") + uuid.uuid4().hex
        state["messages"].append(
            {
                "id": mid,
                "channel": channel,
                "to": to,
                "text": text,
                "reference": reference,
                "at": dt.datetime.now(dt.UTC).isoformat(),
            }
        )
        if reference:  # like the real APIs, no de-duplication: a repeated send is a second message
            state["by_ref"][reference] = mid
        return mid

    def bearer_ok(request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {s.whatsapp_token.get_secret_value()}"

    def basic_ok(request: Request, sid: str) -> bool:
        expected = base64.b64encode(
            f"{s.twilio_account_sid}:{s.twilio_auth_token.get_secret_value()}".encode()
        ).decode()
        return sid == s.twilio_account_sid and request.headers.get("Authorization") == f"Basic {expected}"

    @app.post("/{version}/{phone_number_id}/messages")
    async def whatsapp(version: str, phone_number_id: str, request: Request) -> Any:
        if not bearer_ok(request):
            return JSONResponse({"error": {"code": 190, "message": "Invalid OAuth access token"}}, 401)
        body = await request.json()
        if body.get("messaging_product") != "whatsapp" or body.get("type") != "template":
            return JSONResponse({"error": {"code": 100, "message": "Invalid parameter"}}, 400)
        text = body["template"]["components"][0]["parameters"][0]["text"]
        reference = body.get("biz_opaque_callback_data")
        if (r := await fault("WHATSAPP", lambda: record("WHATSAPP", "+" + body["to"], text, reference))) is not None:
            return r
        if body.get("to") in state["invalid"]:
            return JSONResponse({"error": {"code": 131026, "message": "Message undeliverable"}}, 400)
        mid = record("WHATSAPP", "+" + body["to"], text, reference)
        status = {"id": mid, "status": "delivered", "recipient_id": body["to"], "biz_opaque_callback_data": reference}
        whatsapp_status(phone_number_id, status)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": mid}],
        }

    @app.post("/2010-04-01/Accounts/{sid}/Messages.json")
    async def twilio(sid: str, request: Request) -> Any:
        if not basic_ok(request, sid):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        form = dict(parse_qsl((await request.body()).decode()))
        if (r := await fault("SMS", lambda: record("SMS", form["To"], form["Body"], None))) is not None:
            return r
        if form.get("To") in state["invalid_sms"]:
            return JSONResponse(
                {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}, 400
            )
        mid = record("SMS", form["To"], form["Body"], None)
        if status_callback := form.get("StatusCallback"):
            params = {"MessageSid": mid, "MessageStatus": "delivered", "To": form["To"], "AccountSid": sid}
            # Twilio signs the callback URL as configured (with its query) plus the sorted POST params.
            signature = twilio_signature(s.twilio_auth_token.get_secret_value(), status_callback, params)
            target = status_callback.replace(s.public_base_url, webhook_base, 1)
            later(callback(target, data=params, headers={"X-Twilio-Signature": signature}))
        return JSONResponse(
            {"sid": mid, "status": "queued", "to": form["To"], "from": form.get("From"), "body": form["Body"]},
            status_code=201,
        )

    @app.get("/2010-04-01/Accounts/{sid}/Messages.json")
    async def twilio_list(sid: str, request: Request) -> Any:
        if not basic_ok(request, sid):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        to = request.query_params.get("To")
        listed = [
            {"sid": m["id"], "to": m["to"], "body": m["text"], "status": "delivered", "date_sent": m["at"]}
            for m in reversed(state["messages"])
            if m["channel"] == "SMS" and (to is None or m["to"] == to)
        ]
        return {"messages": listed, "page": 0}

    @app.get("/_sim/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_sim/messages")
    async def messages(to: str | None = None) -> list[dict[str, Any]]:
        """What was sent; `to=` one number (with or without +: a raw + in a query arrives as a space)."""
        wanted = to.strip().lstrip("+") if to else None
        return [m for m in state["messages"] if wanted is None or m["to"].lstrip("+") == wanted]

    @app.post("/_sim/inbound")
    async def inbound(request: Request) -> Any:
        """A citizen's WhatsApp message, posted to the notifier exactly as the Cloud API would: the
        inbound message webhook (entry[].changes[].value.messages[] with from, id, timestamp, text.body),
        signed with the app secret. Body: {"from": "+62812...", "text": "CEK"}, optional "id" (to
        replay one) and "timestamp" (Unix seconds). Answers with the id and the notifier's status."""
        body = await request.json()
        sender = str(body["from"]).strip().lstrip("+")
        message_id = str(body.get("id") or "wamid.IN" + uuid.uuid4().hex)
        message = {
            "from": sender,
            "id": message_id,
            "timestamp": str(body.get("timestamp") or int(dt.datetime.now(dt.UTC).timestamp())),
            "type": "text",
            "text": {"body": str(body.get("text", ""))},
        }
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "628001234567", "phone_number_id": s.whatsapp_phone_number_id},
            "contacts": [{"profile": {"name": "Peserta"}, "wa_id": sender}],
            "messages": [message],
        }
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
        }
        raw = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": whatsapp_signature(s.whatsapp_app_secret.get_secret_value(), raw),
        }
        try:
            answer = await http().post(webhook_base + "/webhooks/whatsapp", content=raw, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            return JSONResponse({"id": message_id, "error": type(exc).__name__}, status_code=502)
        return {"id": message_id, "status": answer.status_code}

    @app.get("/_sim/lookup")
    async def lookup(reference: str) -> Any:
        """Simulator only: the WhatsApp message id sent with this biz_opaque_callback_data."""
        mid = state["by_ref"].get(reference)
        return {"id": mid} if mid else JSONResponse({"id": None}, status_code=404)

    @app.post("/_sim/faults")
    async def faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        state["invalid"].update(n.lstrip("+") for n in body.pop("invalid_whatsapp", []))
        state["invalid_sms"].update(body.pop("invalid_sms", []))
        state["faults"].update({k.upper(): v for k, v in body.items()})
        return {
            "faults": state["faults"],
            "invalid_whatsapp": sorted(state["invalid"]),
            "invalid_sms": sorted(state["invalid_sms"]),
        }

    @app.post("/_sim/reset")
    async def reset() -> dict[str, str]:
        state.update(messages=[], by_ref={}, faults={}, invalid=set(), invalid_sms=set())
        return {"status": "reset"}

    return app

"""Escalation that reaches someone, on real Kafka + PostgreSQL and real HTTP: an emergency's 12-hour
WARNING and its BREACHED reach the on-call contact of its region once per state, whatever is redelivered
or fired again under a new id: the regency's WhatsApp number through the provider simulator (at night
too: urgent), another province's webhook as JSON with the bearer token, never the whole NIK; the
metric the alert rules read counts each escalation once."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI, Request

from services.notifier import metrics
from services.notifier.app import create_app
from shared.events import EmergencySlaChanged
from shared.settings import Settings
from shared.topics import TIMER_EVENTS
from testkit.apps import serving
from testkit.clock import Clock
from testkit.events import sla_changed
from testkit.kafka import produce
from testkit.notifier import Sim, message_rows, messages_in_state, notifier_settings
from testkit.polling import eventually
from testkit.system import free_port

NIGHT = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)  # 23:00 WIB: quiet hours for anything not urgent
ON_CALL = "+6281100000001"
TOKEN = "ops-webhook-token-for-tests"


def sla(nik: str, rid: uuid.UUID, state: str) -> EmergencySlaChanged:
    """Received at 11:00 WIB, due at 11:00 the next day, as of 23:00 WIB (quiet hours)."""
    return sla_changed(nik, rid, state, at=NIGHT, facility_code="3674R001", received_at=NIGHT - dt.timedelta(hours=12))


def receiver() -> tuple[FastAPI, list[dict[str, Any]]]:
    """An operations system's webhook: records what it is sent, with the headers that matter."""
    received: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/hooks/pbi")
    async def hook(request: Request) -> dict[str, str]:
        received.append(
            {
                "body": json.loads(await request.body()),
                "authorization": request.headers.get("authorization"),
                "idempotency_key": request.headers.get("idempotency-key"),
            }
        )
        return {"ok": "yes"}

    return app, received


async def metric(port: int, line: str) -> float:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for row in (await client.get("/metrics")).text.splitlines():
            if row.startswith(line + " "):
                return float(row.split()[-1])
    return 0.0


async def test_warning_and_breach_reach_the_on_call_contact_once_per_state(settings: Settings, sim: Sim) -> None:
    tangsel, denpasar = "3674015708900001", "5171015708900002"
    rid_tangsel, rid_bali = uuid.uuid4(), uuid.uuid4()
    hook_app, received = receiver()
    hook_port = free_port()
    hook = f"http://127.0.0.1:{hook_port}/hooks/pbi"
    overrides = {
        "escalation_contacts": {"36.74": ON_CALL, "51": hook},
        "escalation_webhook_token": TOKEN,
    }
    app = create_app(notifier_settings(settings, sim, **overrides), clock=Clock(NIGHT))
    before = {k: counted(*k) for k in (("WARNING", "WHATSAPP"), ("BREACHED", "WHATSAPP"), ("WARNING", "WEBHOOK"))}
    async with serving(hook_app, hook_port), serving(app, sim.notifier_port):
        stream = []
        for nik, rid in ((tangsel, rid_tangsel), (denpasar, rid_bali)):
            for state in ("OK", "WARNING", "BREACHED"):
                event = sla(nik, rid, state)
                # Redelivered, and fired again under a new id (a timer that ran twice).
                stream += [event, event, event.model_copy(update={"event_id": uuid.uuid4()})]
        await produce(settings, TIMER_EVENTS, *stream)
        sent = await eventually(lambda: _whatsapp_to(sim, ON_CALL, 2))
        await eventually(lambda: _at_least(received, 2))
        await eventually(lambda: _sent_rows(app, 4))
        kinds = sorted(r["kind"] for r in await message_rows(app))
        assert kinds == ["escalation_breached"] * 2 + ["escalation_warning"] * 2
        exposed = await metric(sim.notifier_port, 'pbi_notifier_escalations_total{channel="WEBHOOK",state="BREACHED"}')
    texts = [m["text"] for m in sent]
    assert sorted("TERLEWATI" in t for t in texts) == [False, True] and sum("12 jam" in t for t in texts) == 1
    assert all("3674********0001" in t and tangsel not in t for t in texts)
    assert len(await sim.messages()) == 2  # the patient's own number is told nothing by this
    assert sorted(r["body"]["sla_state"] for r in received) == ["BREACHED", "WARNING"]
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in received)
    assert all(r["body"]["nik"] == "5171********0002" and r["body"]["request_id"] == str(rid_bali) for r in received)
    assert {r["idempotency_key"] for r in received} == {r["body"]["escalation_id"] for r in received}
    assert exposed >= 1  # what deploy/monitoring/rules/sla.yaml alerts on
    assert {k: counted(*k) - v for k, v in before.items()} == {k: 1.0 for k in before}


async def _whatsapp_to(sim: Sim, to: str, n: int) -> list[dict[str, Any]]:
    found = [m for m in await sim.messages() if m["to"] == to and m["channel"] == "WHATSAPP"]
    assert len(found) <= n, found
    return found if len(found) == n else []


async def _at_least(received: list[dict[str, Any]], n: int) -> bool:
    assert len(received) <= n, received
    return len(received) == n


async def _sent_rows(app: FastAPI, n: int) -> list[dict[str, Any]]:
    sent = await messages_in_state(app, "SENT", "DELIVERED", "READ")
    return sent if len(sent) == n else []


def counted(state: str, channel: str) -> float:
    return metrics.ESCALATIONS.labels(state, channel)._value.get()

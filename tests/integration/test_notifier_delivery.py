"""Notifier against the provider simulator over real HTTP, with real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from services.notifier import simulator
from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import whatsapp_signature
from services.notifier.store import C, M
from shared.events import ParticipantDeactivated
from shared.settings import Settings
from shared.topics import NOTIFICATION_EVENTS, PARTICIPANT_EVENTS
from tests.conftest import eventually
from tests.e2e.system import free_port
from tests.integration.helpers import TopicReader, produce, running

NIK = "3674015708900001"
DAYTIME = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB: no quiet hours


@pytest.fixture
def sim_port() -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(simulator.create_app(NotifierSettings()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(5)


def notifier_settings(settings: Settings, sim_port: int) -> NotifierSettings:
    base = f"http://127.0.0.1:{sim_port}"
    return NotifierSettings(**settings.model_dump(), whatsapp_api_base=base, twilio_api_base=base)


def deactivation(phone: str = "081234567890") -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=DAYTIME,
        source="SIKS-NG",
        nik=NIK,
        reason="DESIL_ABOVE_5",
        deactivated_on=dt.date(2026, 11, 1),
        phone=phone,
    )


async def sim(port: int, method: str, path: str, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        return await c.request(method, path, **kw)  # type: ignore[arg-type]


async def messages(port: int) -> list[dict]:
    return (await sim(port, "GET", "/_sim/messages")).json()


async def rows(app) -> list[dict]:  # type: ignore[no-untyped-def]
    async with app.state.sessions() as s:
        return [dict(r) for r in (await s.execute(select(M))).mappings()]


async def test_transient_failures_are_retried_then_sent_once(settings: Settings, sim_port: int) -> None:
    await sim(sim_port, "POST", "/_sim/faults", json={"WHATSAPP": {"status": 503, "times": 2}})
    app = create_app(notifier_settings(settings, sim_port), clock=lambda: DAYTIME)
    async with running(app):
        event = deactivation()
        await produce(settings, PARTICIPANT_EVENTS, event, event)  # the same event twice (redelivery)
        sent = await eventually(lambda: messages(sim_port))
        await eventually(lambda: _state(app, "SENT"))
    assert len(sent) == 1 and sent[0]["channel"] == "WHATSAPP" and sent[0]["to"] == "+6281234567890"
    assert "3674********0001" in sent[0]["text"] and NIK not in sent[0]["text"]


async def _state(app, state: str) -> bool:  # type: ignore[no-untyped-def]
    return any(r["state"] == state for r in await rows(app))


async def test_not_on_whatsapp_falls_back_to_sms(settings: Settings, sim_port: int) -> None:
    await sim(sim_port, "POST", "/_sim/faults", json={"invalid_whatsapp": ["6281234567890"]})
    app = create_app(notifier_settings(settings, sim_port), clock=lambda: DAYTIME)
    async with running(app):
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        sent = await eventually(lambda: messages(sim_port))
        await eventually(lambda: _state(app, "SENT"))
    assert [m["channel"] for m in sent] == ["SMS"]


async def test_everything_failing_ends_in_the_dead_letter_topic(settings: Settings, sim_port: int) -> None:
    await sim(
        sim_port,
        "POST",
        "/_sim/faults",
        json={"invalid_whatsapp": ["6281234567890"], "SMS": {"status": 400, "times": 99}},
    )
    app = create_app(notifier_settings(settings, sim_port), clock=lambda: DAYTIME)
    async with running(app), TopicReader(settings, settings.topic_prefix + NOTIFICATION_EVENTS.dlq) as dlq:
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: _nonempty(dlq))
    assert b"permanent" in dict(dlq.raw[0].headers)["x-dlq-reason"]


async def _nonempty(reader: TopicReader) -> bool:
    await reader.poll()
    return bool(reader.raw)


async def test_crash_between_send_and_record_sends_one_message(settings: Settings, sim_port: int) -> None:
    """The provider got the message but the notifier died before recording it: on restart the
    reconciliation finds it by reference and does not send it again."""
    ns = notifier_settings(settings, sim_port)
    app = create_app(ns, clock=lambda: DAYTIME)
    async with running(app):
        await app.state.sender.stop()  # no automatic sending: we play the crash by hand
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: rows(app))
        row = (await rows(app))[0]
        async with app.state.sessions() as s, s.begin():
            from sqlalchemy import update

            await s.execute(update(M).values(state="SENDING"))
        await app.state.sender.providers["WHATSAPP"].send(row["phone"], row["text"], str(row["message_id"]))
    restarted = create_app(ns, clock=lambda: DAYTIME)
    async with running(restarted):
        await eventually(lambda: _state(restarted, "SENT") or _state(restarted, "DELIVERED"))
        await asyncio.sleep(1)
    assert len(await messages(sim_port)) == 1


async def test_webhook_signatures_and_opt_out(settings: Settings, sim_port: int) -> None:
    ns = notifier_settings(settings, sim_port)
    app = create_app(ns, clock=lambda: DAYTIME)
    async with running(app):
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: rows(app))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
            ok = await client.get(
                "/webhooks/whatsapp",
                params={"hub.mode": "subscribe", "hub.verify_token": ns.whatsapp_verify_token, "hub.challenge": "42"},
            )
            assert ok.status_code == 200 and ok.text == "42"
            assert (
                await client.get(
                    "/webhooks/whatsapp",
                    params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"},
                )
            ).status_code == 403
            reply = (b'{"entry":[{"changes":[{"value":{"messages":'
                     b'[{"from":"6281234567890","text":{"body":"BERHENTI"}}]}}]}]}')
            bad = await client.post("/webhooks/whatsapp", content=reply, headers={"X-Hub-Signature-256": "sha256=00"})
            assert bad.status_code == 403
            good = await client.post(
                "/webhooks/whatsapp",
                content=reply,
                headers={"X-Hub-Signature-256": whatsapp_signature(ns.whatsapp_app_secret, reply)},
            )
            assert good.status_code == 200
            assert (
                await client.post(
                    "/webhooks/twilio",
                    data={"MessageSid": "SM1", "MessageStatus": "delivered"},
                    headers={"X-Twilio-Signature": "nope"},
                )
            ).status_code == 403
        async with app.state.sessions() as s:
            contact = (await s.execute(select(C).where(C.c.nik == NIK))).mappings().one()
        assert contact["opted_out"] is True

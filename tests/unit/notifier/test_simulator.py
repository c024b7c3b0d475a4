"""The provider simulator speaks both APIs, checks credentials, records and injects faults."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from services.notifier import simulator
from services.notifier.settings import NotifierSettings
from services.notifier.signatures import whatsapp_signature

S = NotifierSettings(public_base_url="http://127.0.0.1:9")  # callbacks go nowhere
WA = f"/{S.whatsapp_api_version}/{S.whatsapp_phone_number_id}/messages"
SMS = f"/2010-04-01/Accounts/{S.twilio_account_sid}/Messages.json"
TEMPLATE = {
    "messaging_product": "whatsapp",
    "to": "6281234567890",
    "type": "template",
    "biz_opaque_callback_data": "ref-1",
    "template": {
        "name": "t",
        "language": {"code": "id"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "halo"}]}],
    },
}


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator.create_app(S)), base_url="http://sim")


def test_credentials_are_checked_and_messages_recorded() -> None:
    async def run() -> None:
        async with client() as c:
            assert (await c.post(WA, json=TEMPLATE, headers={"Authorization": "Bearer wrong"})).status_code == 401
            assert (await c.post(SMS, data={"To": "+62812", "Body": "x"}, auth=("AC1", "no"))).status_code == 401
            wa = await c.post(
                WA, json=TEMPLATE, headers={"Authorization": f"Bearer {S.whatsapp_token.get_secret_value()}"}
            )
            sms = await c.post(
                SMS,
                data={"To": "+6281234567890", "From": "+1", "Body": "halo"},
                auth=(S.twilio_account_sid, S.twilio_auth_token.get_secret_value()),
            )
            assert wa.status_code == 200 and wa.json()["messages"][0]["id"].startswith("wamid.")
            assert sms.status_code == 201 and sms.json()["sid"].startswith("SM")
            recorded = (await c.get("/_sim/messages")).json()
            assert [(m["channel"], m["to"], m["text"]) for m in recorded] == [
                ("WHATSAPP", "+6281234567890", "halo"),
                ("SMS", "+6281234567890", "halo"),
            ]
            assert (await c.get("/_sim/lookup", params={"reference": "ref-1"})).json()["id"] == recorded[0]["id"]
            listed = await c.get(
                SMS,
                params={"To": "+6281234567890"},
                auth=(S.twilio_account_sid, S.twilio_auth_token.get_secret_value()),
            )
            assert [m["sid"] for m in listed.json()["messages"]] == [recorded[1]["id"]]

    asyncio.run(run())


def test_faults_fail_a_number_of_times_or_at_a_rate() -> None:
    async def run() -> None:
        auth = {"Authorization": f"Bearer {S.whatsapp_token.get_secret_value()}"}
        async with client() as c:
            await c.post("/_sim/faults", json={"whatsapp": {"status": 429, "times": 2}, "sms": {"fail_rate": 1.0}})
            codes = [(await c.post(WA, json=TEMPLATE, headers=auth)).status_code for _ in range(3)]
            assert codes == [429, 429, 200]
            sms = await c.post(
                SMS,
                data={"To": "+62812", "Body": "x"},
                auth=(S.twilio_account_sid, S.twilio_auth_token.get_secret_value()),
            )
            assert sms.status_code == 500
            await c.post("/_sim/reset")
            assert (await c.get("/_sim/messages")).json() == []

    asyncio.run(run())


def test_whatsapp_statuses_share_a_signed_webhook_and_each_sms_gets_its_own_callback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(simulator, "BATCH_WINDOW_S", 1.0)  # all three sends fall in one window, however slow
    webhooks: list[httpx.Request] = []
    all_three = asyncio.Event()  # one WhatsApp webhook for the three statuses, one callback per SMS

    async def notifier(request: httpx.Request) -> httpx.Response:
        webhooks.append(request)
        if len(webhooks) == 3:
            all_three.set()
        return httpx.Response(200, json={"status": "ok"})

    async def run() -> None:
        callbacks = httpx.AsyncClient(transport=httpx.MockTransport(notifier))
        app = simulator.create_app(S, callbacks=callbacks)
        auth = {"Authorization": f"Bearer {S.whatsapp_token.get_secret_value()}"}
        sms_auth = (S.twilio_account_sid, S.twilio_auth_token.get_secret_value())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as c:
            for n in range(3):
                sent = await c.post(WA, json=TEMPLATE | {"biz_opaque_callback_data": f"ref-{n}"}, headers=auth)
                assert sent.status_code == 200
            for n in range(2):
                callback = f"{S.public_base_url}/webhooks/twilio?ref=sms-{n}"
                form = {"To": "+6281234567890", "From": "+1", "Body": "halo", "StatusCallback": callback}
                assert (await c.post(SMS, data=form, auth=sms_auth)).status_code == 201
            async with asyncio.timeout(30):
                await all_three.wait()
        await callbacks.aclose()

    asyncio.run(run())
    [whatsapp] = [w for w in webhooks if w.url.path == "/webhooks/whatsapp"]
    statuses = json.loads(whatsapp.content)["entry"][0]["changes"][0]["value"]["statuses"]
    assert [s["biz_opaque_callback_data"] for s in statuses] == ["ref-0", "ref-1", "ref-2"]
    secret = S.whatsapp_app_secret.get_secret_value()
    assert whatsapp.headers["X-Hub-Signature-256"] == whatsapp_signature(secret, whatsapp.content)
    assert sorted(w.url.params["ref"] for w in webhooks if w.url.path == "/webhooks/twilio") == ["sms-0", "sms-1"]

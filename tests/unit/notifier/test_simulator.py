"""The provider simulator speaks both APIs, checks credentials, records and injects faults."""

from __future__ import annotations

import asyncio

import httpx

from services.notifier import simulator
from services.notifier.settings import NotifierSettings

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

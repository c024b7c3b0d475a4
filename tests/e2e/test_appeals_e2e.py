"""An appeal on WhatsApp, through the running system's public contract (issue 18): a rejected person answers
`BANDING <reference>` from the number on file (the provider simulator posts it, signed, as the Cloud API
would); the appeal waits on the worklist as APPEAL_REVIEW; a later re-ranking upholds it, the person is
ACTIVE again and told once (in Bahasa Indonesia, NIK masked)."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import httpx

from shared.appeals import request_reference
from testkit.bodies import fact, nik, recent_deactivation
from testkit.clients import participant, post_events
from testkit.keys import Keys
from testkit.polling import eventually
from testkit.system import RunningSystem

TODAY = dt.datetime.now(dt.UTC)
PHONE_LOCAL, PHONE = "081234508010", "+6281234508010"


def outside_quiet_hours(margin: dt.timedelta = dt.timedelta(minutes=20)) -> bool:
    """Messages that are not urgent wait out 21:00-07:00 WIB (the person's zone): check them by day only."""
    local = dt.datetime.now(ZoneInfo("Asia/Jakarta"))
    return (
        dt.time(7, 0) <= local.time() and (local + margin).time() < dt.time(21, 0) and (local + margin).day == local.day
    )


async def test_whatsapp_appeal_waits_for_review_then_a_re_ranking_upholds_it(
    system: RunningSystem, keys: Keys, http: httpx.AsyncClient
) -> None:
    writer, dinsos = await keys.issue("events:write"), await keys.issue("reactivations:write")
    reader, ops = await keys.issue("participants:read"), await keys.issue("worklist:read")
    person = nik(801)
    deactivated_on = (TODAY - dt.timedelta(days=30)).date()
    await post_events(
        http,
        system,
        writer,
        recent_deactivation(person, phone=PHONE_LOCAL),
        fact(
            person,
            "participant.desil_updated",
            desil=7,
            effective_on=(deactivated_on + dt.timedelta(days=3)).isoformat(),
        ),
        fact(person, "participant.biometric_recorded", recorded_on=TODAY.date().isoformat()),
    )
    r = await http.post(
        system.url("intake") + "/v1/reactivations",
        headers={"Authorization": f"Bearer {dinsos}"},
        json={"nik": person, "path": "REGULAR", "channel": "WHATSAPP"},
    )
    request_id = r.json()["request_id"]

    async def rejected() -> bool:
        s = await http.get(
            system.url("intake") + f"/v1/reactivations/{request_id}", headers={"Authorization": f"Bearer {dinsos}"}
        )
        return s.json()["status"] == "REJECTED"

    await eventually(rejected, timeout=60)
    reference = request_reference(uuid.UUID(request_id))
    sent = await http.post(
        system.url("simulator") + "/_sim/inbound", json={"from": PHONE, "text": f"banding {reference}"}
    )
    assert sent.status_code == 200, sent.text

    async def appeal(status: str) -> dict:
        r = await http.get(
            system.url("intake") + "/v1/appeals",
            params={"request_id": request_id},
            headers={"Authorization": f"Bearer {dinsos}"},
        )
        return r.json() if r.status_code == 200 and r.json()["status"] == status else {}

    opened = await eventually(lambda: appeal("OPEN"), timeout=60)
    assert opened["channel"] == "WHATSAPP" and opened["reasons"] == ["DESIL_ABOVE_5"]

    async def review_item() -> list:
        r = await http.get(
            system.url("registry") + "/v1/worklist",
            params={"kind": "APPEAL_REVIEW"},
            headers={"Authorization": f"Bearer {ops}"},
        )
        return [i for i in r.json()["items"] if i["request_id"] == request_id]

    [item] = await eventually(review_item, timeout=60)
    assert dt.datetime.fromisoformat(item["due_at"]) == dt.datetime.fromisoformat(opened["due_at"])
    assert person not in item["nik"]  # masked

    await post_events(
        http,
        system,
        writer,
        fact(
            person,
            "participant.desil_updated",
            desil=3,
            effective_on=(deactivated_on + dt.timedelta(days=20)).isoformat(),
        ),
    )
    upheld = await eventually(lambda: appeal("UPHELD"), timeout=60)
    assert upheld["decided_at"]

    async def active() -> bool:
        return (await participant(http, system, reader, person)).get("status") == "ACTIVE"

    await eventually(active, timeout=60)

    if outside_quiet_hours():

        async def told() -> list[str]:
            messages = (await http.get(system.url("simulator") + "/_sim/messages", params={"to": PHONE})).json()
            return [m["text"] for m in messages if "DIKABULKAN" in m["text"]]

        [text] = await eventually(told, timeout=60)
        assert person not in text and "3674********" in text and "AKTIF" in text

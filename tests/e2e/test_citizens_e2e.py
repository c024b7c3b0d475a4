"""Citizens on WhatsApp, through the running system (issue 18): the provider simulator posts signed inbound
messages as the Cloud API would. `STOP.` from a number before any list names it: the deactivation notice
for that number is skipped, never sent; `CEK` from the number on file answers with the status and the
masked NIK, from any other number with the general answer; `MULAI` turns messages on again, and the next
message for the person (an emergency's, due at any hour) reaches the number."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from services.notifier.domain.answers import GENERAL, RESUMED
from shared.nik import mask_nik
from testkit.keys import Keys
from testkit.polling import eventually
from testkit.system import RunningSystem

TODAY = dt.datetime.now(dt.UTC)
PERSON, NEIGHBOUR = "3674011708900911", "3674011708900912"
PHONE, NEIGHBOUR_PHONE, STRANGER = "+6281234509011", "+6281234509012", "+6281234509013"


def deactivation(nik: str, phone: str) -> dict:
    return {
        "type": "participant.deactivated",
        "occurred_at": TODAY.isoformat(),
        "source": "SIKS-NG",
        "nik": nik,
        "deactivated_on": (TODAY - dt.timedelta(days=30)).date().isoformat(),
        "reason": "DESIL_ABOVE_5",
        "phone": phone,
    }


async def say(http: httpx.AsyncClient, system: RunningSystem, sender: str, text: str) -> None:
    r = await http.post(system.url("simulator") + "/_sim/inbound", json={"from": sender, "text": text})
    assert r.status_code == 200 and r.json()["status"] == 200, r.text


async def texts_to(http: httpx.AsyncClient, system: RunningSystem, phone: str) -> list[str]:
    messages = (await http.get(system.url("simulator") + "/_sim/messages", params={"to": phone})).json()
    return [m["text"] for m in messages]


async def skipped_for_opt_out(http: httpx.AsyncClient, system: RunningSystem) -> float:
    metrics = (await http.get(system.url("notifier") + "/metrics")).text
    pattern = r'^pbi_notifier_not_sent_total\{[^}]*reason="opted_out"[^}]*\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, metrics, re.MULTILINE))


async def test_stop_cek_and_mulai_on_whatsapp(system: RunningSystem, keys: Keys, http: httpx.AsyncClient) -> None:
    writer = await keys.issue("events:write")
    hospital = await keys.issue("emergency:write", ["3674R001"])
    skipped_before = await skipped_for_opt_out(http, system)

    await say(http, system, PHONE, "Stop.")  # no list names this number yet
    r = await http.post(
        system.url("intake") + "/v1/events",
        json={"events": [deactivation(PERSON, PHONE), deactivation(NEIGHBOUR, NEIGHBOUR_PHONE)]},
        headers={"Authorization": f"Bearer {writer}"},
    )
    assert r.status_code == 202, r.text
    # The notice for the opted-out number was skipped (counted), not queued.
    await eventually(lambda: _more_than(http, system, skipped_before), timeout=60)

    await say(http, system, PHONE, "cek")
    [status] = await eventually(lambda: _containing(http, system, PHONE, mask_nik(PERSON)), timeout=60)
    assert PERSON not in status  # masked, as everything sent to a phone
    await say(http, system, STRANGER, "CEK!")
    [general] = await eventually(lambda: _containing(http, system, STRANGER, GENERAL[:40]), timeout=60)
    assert general == GENERAL and mask_nik(PERSON) not in general
    # Nothing but the answer reached the opted-out number: no deactivation notice.
    assert await texts_to(http, system, PHONE) == [status]

    await say(http, system, PHONE, "mulai")
    await eventually(lambda: _containing(http, system, PHONE, RESUMED[:40]), timeout=60)
    r = await http.post(
        system.url("intake") + "/v1/hospital/emergency-reactivations",
        headers={"Authorization": f"Bearer {hospital}"},
        json={"nik": PERSON, "facility_code": "3674R001", "letter_no": "IGD/911", "admitted_at": TODAY.isoformat()},
    )
    assert r.status_code == 202, r.text

    async def emergency_messages() -> list[str]:
        return [t for t in await texts_to(http, system, PHONE) if t not in (status, RESUMED)]

    [*told] = await eventually(emergency_messages, timeout=60)
    assert told and all(PERSON not in t for t in told)


async def _more_than(http: httpx.AsyncClient, system: RunningSystem, before: float) -> bool:
    return await skipped_for_opt_out(http, system) > before


async def _containing(http: httpx.AsyncClient, system: RunningSystem, phone: str, part: str) -> list[str]:
    return [t for t in await texts_to(http, system, phone) if part in t]

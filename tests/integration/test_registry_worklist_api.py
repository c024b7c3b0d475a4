"""The worklist API on real Kafka + PostgreSQL (CONTRACT.md, operations worklist): filters, newest due
first, cursor pages, scopes (401/403), a region-bound key (its region only: 403 for asking another, 404
for another's item), and marking done (by whom, with a note; done twice is harmless)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from services.registry.app import create_app
from services.registry.domain.worklist import item_id
from shared.events import Event
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS
from testkit.apps import running
from testkit.events import T0, H, decided
from testkit.kafka import produce
from testkit.polling import eventually
from testkit.registry import events_seen

TANGSEL, TANGERANG, DENPASAR = "3674015708900001", "3671015708900002", "5171015708900003"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def all_pages(client: httpx.AsyncClient, key: str, **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/worklist", params=query, headers=bearer(key))
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if (cursor := r.json()["next"]) is None:
            return items


async def test_worklist_api_filters_pages_binds_regions_and_marks_done(settings: Settings) -> None:
    rids = {nik: uuid.uuid4() for nik in (TANGSEL, TANGERANG, DENPASAR)}
    events: list[Event] = [
        decided(TANGSEL, rids[TANGSEL], "APPROVED", T0 + H, follow_ups=("BIOMETRIC_RECORDING", "SIKS_NG_ENTRY")),
        decided(TANGERANG, rids[TANGERANG], "APPROVED", T0 + 2 * H, follow_ups=("DESIL_REVERIFICATION",)),
        decided(DENPASAR, rids[DENPASAR], "PENDING", T0 + 3 * H, ("NIK_CONFLICT",)),
    ]
    clock = lambda: T0 + 40 * 24 * H  # noqa: E731 - the follow-ups (due in 30 days) are overdue by then
    app = create_app(RegistrySettings(**settings.model_dump()), clock=clock)
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as c:
        keys = app.state.api_keys
        reader = await keys.issue("ops pusat", ["worklist:read"])
        writer = await keys.issue("ops pusat", ["worklist:read", "worklist:write"])
        tangsel = await keys.issue("Dinsos Tangsel", ["worklist:read", "worklist:write"], regency="36.74")
        banten = await keys.issue("Dinsos Banten", ["worklist:read"], province="36")
        dashboard = await keys.issue("screen", ["dashboard:read", "participants:read"])
        await produce(settings, DECISIONS, *events)
        await eventually(lambda: events_seen(settings, events))

        # Scopes: no key 401, a key without worklist:read 403.
        assert (await c.get("/v1/worklist")).status_code == 401
        assert (await c.get("/v1/worklist", headers=bearer(dashboard))).status_code == 403

        every = await all_pages(c, reader)
        assert len(every) == 4
        assert [i["due_at"] for i in every] == sorted((i["due_at"] for i in every), reverse=True)  # newest due first
        assert {i["nik"] for i in every} == {"3674********0001", "3671********0002", "5171********0003"}
        assert all(i["state"] == "OPEN" for i in every)
        by_kind = {i["kind"]: i for i in every}
        assert by_kind["EMERGENCY_HELD"]["region"]["province"] == "Bali"
        assert by_kind["EMERGENCY_HELD"]["overdue"] is True and by_kind["SIKS_NG_ENTRY"]["overdue"] is True
        assert by_kind["SIKS_NG_ENTRY"]["request_id"] == str(rids[TANGSEL])
        # Pages of one item give the same list as one page of all.
        assert [i["item_id"] for i in await all_pages(c, reader, limit=1)] == [i["item_id"] for i in every]
        assert [i["kind"] for i in await all_pages(c, reader, kind="DESIL_REVERIFICATION")] == ["DESIL_REVERIFICATION"]
        assert len(await all_pages(c, reader, province="Banten")) == 3
        assert len(await all_pages(c, reader, regency="Kota Tangerang Selatan")) == 2
        assert await all_pages(c, reader, district="Nowhere") == []
        bad = await c.get("/v1/worklist", params={"kind": "NOPE"}, headers=bearer(reader))
        assert bad.status_code == 422
        assert (await c.get("/v1/worklist", params={"cursor": "%%%"}, headers=bearer(reader))).status_code == 422

        # A regency-bound key sees its regency; a province-bound one its province; asking for another: 403.
        assert {i["nik"][:4] for i in await all_pages(c, tangsel)} == {"3674"}
        assert {i["nik"][:4] for i in await all_pages(c, banten)} == {"3674", "3671"}
        assert (await c.get("/v1/worklist", params={"province": "Bali"}, headers=bearer(banten))).status_code == 403
        asks_other = await c.get("/v1/worklist", params={"regency": "Kota Tangerang"}, headers=bearer(tangsel))
        assert asks_other.status_code == 403

        # Marking done: worklist:write needed; another region's item is not found; twice is harmless.
        siks = item_id(rids[TANGSEL], "SIKS_NG_ENTRY")
        held = item_id(rids[DENPASAR], "EMERGENCY_HELD")
        assert (await c.post(f"/v1/worklist/{siks}/done")).status_code == 401
        assert (await c.post(f"/v1/worklist/{siks}/done", headers=bearer(reader))).status_code == 403
        assert (await c.post(f"/v1/worklist/{held}/done", headers=bearer(tangsel))).status_code == 404
        assert (await c.post(f"/v1/worklist/{uuid.uuid4()}/done", headers=bearer(writer))).status_code == 404
        first = await c.post(f"/v1/worklist/{siks}/done", json={"note": "diinput ke SIKS-NG"}, headers=bearer(tangsel))
        assert first.status_code == 200, first.text
        done = first.json()
        assert (done["state"], done["note"]) == ("DONE", "diinput ke SIKS-NG")
        assert dt.datetime.fromisoformat(done["closed_at"]) == clock()
        key_id = tangsel.split("_")[1]
        assert done["closed_by"] == f"key:{key_id} Dinsos Tangsel"
        again = await c.post(f"/v1/worklist/{siks}/done", json={"note": "lagi"}, headers=bearer(writer))
        assert again.status_code == 200 and again.json() == done  # the first closer and note stay
        no_body = await c.post(f"/v1/worklist/{held}/done", headers=bearer(writer))
        assert no_body.status_code == 200 and no_body.json()["note"] is None
        assert no_body.json()["overdue"] is False  # done is never overdue

        open_now = await all_pages(c, reader)
        assert {i["kind"] for i in open_now} == {"BIOMETRIC_RECORDING", "DESIL_REVERIFICATION"}
        assert {i["item_id"] for i in await all_pages(c, reader, state="DONE")} == {str(siks), str(held)}

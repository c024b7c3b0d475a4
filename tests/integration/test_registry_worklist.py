"""Worklist data on real Kafka + PostgreSQL: follow-ups travelling on decisions are stored with the
request once per (request, kind) however often decisions are redelivered or re-decided; an emergency
held PENDING by an open NIK conflict (or a list not yet seen) is on the list at once and done when
it is finally decided; the list filters and pages, newest due first or (`order=oldest_due`) overdue first."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import insert

from services.registry.app import create_app
from services.registry.store import W
from services.registry.worklist import WorklistOrder, list_items
from shared.events import Event
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS
from testkit.apps import running
from testkit.events import T0, H, again, decided
from testkit.kafka import produce
from testkit.polling import eventually
from testkit.registry import events_seen, worklist_items


async def test_follow_ups_are_stored_once_under_redelivery(settings: Settings) -> None:
    nik, rid = "3674015708900001", uuid.uuid4()
    approved = decided(nik, rid, "APPROVED", T0 + H, follow_ups=("DESIL_REVERIFICATION", "SIKS_NG_ENTRY"))
    pending = decided(nik, rid, "PENDING", T0 + H / 2, ("DOCUMENT_MISSING",), follow_ups=("SIKS_NG_ENTRY",))
    stream: list[Event] = [pending, approved, approved, again(approved), again(pending)]
    async with running(create_app(RegistrySettings(**settings.model_dump()))):
        await produce(settings, DECISIONS, *stream)
        await eventually(lambda: events_seen(settings, stream))
        items = await worklist_items(settings, rid)
    assert [(i["kind"], i["state"]) for i in items] == [("DESIL_REVERIFICATION", "OPEN"), ("SIKS_NG_ENTRY", "OPEN")]
    siks = items[1]
    assert siks["opened_at"] == pending.decided_at  # the first decision that carried it opened it
    assert siks["due_at"] == pending.decided_at + dt.timedelta(days=30)
    assert (siks["nik"], siks["province"], siks["regency"]) == (nik, "Banten", "Kota Tangerang Selatan")
    assert siks["closed_by"] is None and siks["closed_at"] is None and siks["note"] is None


async def test_an_emergency_held_by_a_conflict_is_on_the_list_at_once_and_done_when_decided(
    settings: Settings,
) -> None:
    nik, rid = "3674015708900002", uuid.uuid4()
    held = decided(nik, rid, "PENDING", T0 + H / 60, ("NIK_CONFLICT",))
    async with running(create_app(RegistrySettings(**settings.model_dump()))) as app:
        await produce(settings, DECISIONS, held, again(held))
        found = await eventually(lambda: worklist_items(settings, rid))
        assert [(i["kind"], i["state"], i["due_at"]) for i in found] == [("EMERGENCY_HELD", "OPEN", T0 + 24 * H)]
        assert found[0]["opened_at"] == held.decided_at  # minutes after receipt, not after 24 hours

        approved = decided(nik, rid, "APPROVED", T0 + 3 * H)
        late = again(held)  # the held decision redelivered after the approval
        await produce(settings, DECISIONS, approved, late)
        await eventually(lambda: events_seen(settings, [approved, late]))
        [item] = await worklist_items(settings, rid)
        assert (item["state"], item["closed_by"], item["closed_at"]) == ("DONE", "system:decision", T0 + 3 * H)
        assert item["note"] == "decided APPROVED"
        assert await list_items(app.state.engine, kind="EMERGENCY_HELD") == []  # OPEN by default
        assert len(await list_items(app.state.engine, kind="EMERGENCY_HELD", state=None)) == 1


async def test_a_held_emergency_for_a_list_not_yet_seen_and_the_list_filters(settings: Settings) -> None:
    papua, bali = "9171015708900001", "5171015708900001"
    events: list[Event] = [
        decided(papua, uuid.uuid4(), "PENDING", T0 + H, ("NOT_DEACTIVATED",)),  # nobody known yet
        decided(bali, uuid.uuid4(), "PENDING", T0 + H, ("NIK_CONFLICT",)),
        decided(bali, uuid.uuid4(), "APPROVED", T0 + 2 * H, follow_ups=("BIOMETRIC_RECORDING",), path="REGULAR"),
        decided(bali, uuid.uuid4(), "APPROVED", T0 + 3 * H, follow_ups=("BIOMETRIC_RECORDING",), path="REGULAR"),
    ]
    async with running(create_app(RegistrySettings(**settings.model_dump()))) as app:
        await produce(settings, DECISIONS, *events)
        await eventually(lambda: events_seen(settings, events))
        engine = app.state.engine
        [held_papua] = await list_items(engine, province="Papua")
        assert (held_papua["kind"], held_papua["regency"]) == ("EMERGENCY_HELD", "Kota Jayapura")
        assert [i["kind"] for i in await list_items(engine, province="Bali", kind="EMERGENCY_HELD")] == [
            "EMERGENCY_HELD"
        ]
        every = await list_items(engine)
        assert len(every) == 4
        # Newest due first: the follow-ups (due in 30 days) before the held emergencies (due in 24 hours).
        assert [i["kind"] for i in every[:2]] == ["BIOMETRIC_RECORDING"] * 2
        assert every[0]["due_at"] > every[1]["due_at"]
        first, rest = await list_items(engine, limit=1), []
        after = (first[0]["due_at"], first[0]["item_id"])
        while page := await list_items(engine, limit=1, after=after):
            rest += page
            after = (page[0]["due_at"], page[0]["item_id"])
        assert [i["item_id"] for i in first + rest] == [i["item_id"] for i in every]


async def test_oldest_due_first_lists_the_overdue_items_first_and_pages_in_that_order(settings: Settings) -> None:
    papua, bali = "9171015708900001", "5171015708900001"
    events: list[Event] = [
        decided(bali, uuid.uuid4(), "APPROVED", T0 + 3 * H, follow_ups=("BIOMETRIC_RECORDING",), path="REGULAR"),
        decided(bali, uuid.uuid4(), "APPROVED", T0 + 2 * H, follow_ups=("BIOMETRIC_RECORDING",), path="REGULAR"),
        decided(papua, uuid.uuid4(), "PENDING", T0 + H, ("NOT_DEACTIVATED",)),  # held: due T0 + 24 h
        decided(bali, uuid.uuid4(), "PENDING", T0 + H, ("NIK_CONFLICT",)),
    ]
    clock = lambda: T0 + 2 * 24 * H  # noqa: E731 - the held emergencies are overdue, the follow-ups not yet
    app = create_app(RegistrySettings(**settings.model_dump()), clock=clock)
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as c:
        key = await app.state.api_keys.issue("ops pusat", ["worklist:read"])
        await produce(settings, DECISIONS, *events)
        await eventually(lambda: events_seen(settings, events))
        async with app.state.engine.begin() as conn:  # an item with no due time (an appeal eligibility gave none)
            no_due = {"kind": "APPEAL_REVIEW", "nik": bali, "request_id": uuid.uuid4(), "state": "OPEN"}
            region = {"province": "Bali", "regency": "Kota Denpasar", "district": "Denpasar Selatan"}
            await conn.execute(insert(W).values(item_id=uuid.uuid4(), opened_at=T0, due_at=None, **no_due, **region))
        every = await list_items(app.state.engine)
        assert len(every) == 5 and every[-1]["due_at"] is None
        oldest = sorted(every, key=lambda i: (i["due_at"] is None, i["due_at"] or T0, i["item_id"]))
        assert oldest[-1]["due_at"] is None
        assert await list_items(app.state.engine, order=WorklistOrder.OLDEST_DUE) == oldest

        async def pages(limit: int, **params: str) -> list[list[dict[str, Any]]]:
            out, cursor = [], None
            while True:
                query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
                r = await c.get("/v1/worklist", params=query, headers={"Authorization": f"Bearer {key}"})
                assert r.status_code == 200, r.text
                out.append(r.json()["items"])
                if (cursor := r.json()["next"]) is None:
                    return out

        # A page too short for everything (the dashboard stops at 2,000) keeps the overdue items this way...
        first, *_ = await pages(2, order="oldest_due")
        assert [(i["kind"], i["overdue"]) for i in first] == [("EMERGENCY_HELD", True)] * 2
        # ... and loses them the contract's default way (newest due first).
        assert not any(i["overdue"] for i in (await pages(2))[0])
        # Pages of one item give the whole list in the same order, the items with no due time last.
        paged = [i for page in await pages(1, order="oldest_due") for i in page]
        assert [i["item_id"] for i in paged] == [str(i["item_id"]) for i in oldest]
        assert [i["item_id"] for page in await pages(1) for i in page] == [str(i["item_id"]) for i in every]

        # A cursor is bound to its order; an order the API does not know is refused.
        r = await c.get(
            "/v1/worklist", params={"order": "oldest_due", "limit": 1}, headers={"Authorization": f"Bearer {key}"}
        )
        mixed = {"cursor": r.json()["next"]}
        r = await c.get("/v1/worklist", params=mixed, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 422 and "order=oldest_due" in r.text
        r = await c.get("/v1/worklist", params={"order": "random"}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 422

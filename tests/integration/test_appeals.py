"""Appeals on real Kafka + PostgreSQL (issue 18 item 3): intake, eligibility and the registry running.

A rejection appealed through POST /v1/appeals (202; a second one, or one of an approved request, 409)
waits on the worklist as APPEAL_REVIEW with its due date; a re-ranking then upholds it: one APPROVED
decision carrying the appeal id (exactly one under redelivery), the registry ACTIVE, the item done.
A WhatsApp appeal names its request by reference; refusals and an operator's dismissal."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.eligibility.app import create_app as eligibility_app
from services.eligibility.store import FactsRow
from services.intake.app import create_app as intake_app
from services.registry.app import create_app as registry_app
from services.registry.store import P, W
from shared.appeals import request_reference
from shared.db import make_engine
from shared.enums import AppealStatus, Channel, Outcome
from shared.events import (
    AppealRequested,
    AppealReviewed,
    AppealUpdated,
    BiometricRecorded,
    DesilUpdated,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
)
from shared.settings import EligibilitySettings, IntakeSettings, RegistrySettings, Settings
from shared.topics import APPEALS, DECISIONS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from testkit.apps import running
from testkit.events import regular
from testkit.kafka import TopicReader, consumed, produce
from testkit.polling import eventually

NIK = "3674015708900001"  # Banten (Kota Tangerang Selatan), WIB
ELIGIBLE_NIK = "3674015708900002"
NOW = dt.datetime.now(dt.UTC)
DEACTIVATED_ON = (NOW - dt.timedelta(days=30)).date()
FOURTEEN_DAYS = dt.timedelta(days=14)


def facts(nik: str, desil: int) -> list[dict[str, Any]]:
    """Deactivated 30 days ago, re-ranked since (to `desil`), biometric recorded."""
    return [
        {
            "type": "participant.deactivated",
            "occurred_at": NOW.isoformat(),
            "nik": nik,
            "deactivated_on": DEACTIVATED_ON.isoformat(),
            "reason": "DESIL_ABOVE_5",
        },
        {
            "type": "participant.desil_updated",
            "occurred_at": NOW.isoformat(),
            "nik": nik,
            "desil": desil,
            "effective_on": (DEACTIVATED_ON + dt.timedelta(days=5)).isoformat(),
        },
        {
            "type": "participant.biometric_recorded",
            "occurred_at": NOW.isoformat(),
            "nik": nik,
            "recorded_on": "2026-01-05",
        },
    ]


def of_request(request_id: uuid.UUID, outcome: str | None = None):  # type: ignore[no-untyped-def]
    return lambda e: (
        isinstance(e, ReactivationDecided) and e.request_id == request_id and (outcome is None or e.outcome == outcome)
    )


def of_appeal(appeal_id: uuid.UUID, status: AppealStatus | None = None):  # type: ignore[no-untyped-def]
    return lambda e: (
        isinstance(e, AppealUpdated) and e.appeal_id == appeal_id and (status is None or e.status == status)
    )


async def query(settings: Settings, statement: Any) -> list[dict[str, Any]]:
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(statement)).mappings()]
    finally:
        await engine.dispose()


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, dict[str, str]]]]:
    """Intake (over ASGI), eligibility and the registry on one database and one topic prefix."""
    common = settings.model_dump()
    intake = intake_app(IntakeSettings(**common))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(intake))
        await stack.enter_async_context(running(eligibility_app(EligibilitySettings(**common))))
        await stack.enter_async_context(running(registry_app(RegistrySettings(**common))))
        keys = intake.state.api_keys
        headers = {
            name: {"Authorization": f"Bearer {await keys.issue(name, scopes, **region)}"}
            for name, scopes, region in (
                ("dtsen", ["events:write"], {}),
                ("dinsos", ["reactivations:write"], {}),
                ("ops_read", ["worklist:read"], {}),
                ("ops_tangsel", ["worklist:write"], {"regency": "36.74"}),  # Kota Tangerang Selatan
                ("ops_jakarta", ["worklist:write"], {"province": "31"}),
            )
        }
        transport = httpx.ASGITransport(app=intake)
        client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://intake"))
        yield client, headers


async def decided_request(client: httpx.AsyncClient, headers: dict[str, dict[str, str]], nik: str, status: str) -> str:
    body = {"nik": nik, "path": "REGULAR", "channel": "DINSOS"}
    r = await client.post("/v1/reactivations", json=body, headers=headers["dinsos"])
    assert r.status_code == 202, r.text
    request_id = r.json()["request_id"]

    async def decided() -> bool:
        got = await client.get(f"/v1/reactivations/{request_id}", headers=headers["dinsos"])
        return got.json()["status"] == status

    await eventually(decided, timeout=60)
    return str(request_id)


async def test_rejection_appealed_waits_for_review_then_a_re_ranking_upholds_it_once(
    settings: Settings,
    system,  # type: ignore[no-untyped-def]
) -> None:
    client, headers = system
    r = await client.post(
        "/v1/events", json={"events": facts(NIK, 7) + facts(ELIGIBLE_NIK, 3)}, headers=headers["dtsen"]
    )
    assert r.status_code == 202, r.text

    async def facts_in() -> bool:
        rows = await query(settings, select(FactsRow.__table__.c.nik).where(FactsRow.__table__.c.biometric_recorded))
        return len(rows) == 2

    await eventually(facts_in, timeout=60)
    rejected = await decided_request(client, headers, NIK, "REJECTED")
    approved = await decided_request(client, headers, ELIGIBLE_NIK, "APPROVED")

    async with TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        appeal = {"request_id": rejected, "grounds": "Rumah tangga sudah diverifikasi ulang oleh kelurahan"}
        posted = dt.datetime.now(dt.UTC)
        r = await client.post("/v1/appeals", json=appeal, headers=headers["dinsos"])
        answered = dt.datetime.now(dt.UTC)
        assert r.status_code == 202, r.text
        accepted = r.json()
        appeal_id, due_at = uuid.UUID(accepted["appeal_id"]), dt.datetime.fromisoformat(accepted["due_at"])
        assert accepted["status"] == "OPEN"
        assert posted + FOURTEEN_DAYS <= due_at <= answered + FOURTEEN_DAYS  # 14 days from its receipt

        # One appeal per decision; an approved request has nothing to appeal.
        again = await client.post("/v1/appeals", json=appeal, headers=headers["dinsos"])
        assert again.status_code == 409 and str(appeal_id) in again.text
        of_approved = {"request_id": approved, "grounds": "keliru"}
        assert (await client.post("/v1/appeals", json=of_approved, headers=headers["dinsos"])).status_code == 409
        unknown = {"request_id": str(uuid.uuid4()), "grounds": "x"}
        assert (await client.post("/v1/appeals", json=unknown, headers=headers["dinsos"])).status_code == 404

        # No new facts: it waits on the worklist as APPEAL_REVIEW with its due date.
        [opened] = await decisions.wait_for(of_appeal(appeal_id, AppealStatus.OPEN), timeout=60)
        assert opened.reasons == ["DESIL_ABOVE_5"] and opened.due_at == due_at

        async def review_item() -> list[dict[str, Any]]:
            return await query(settings, select(W).where(W.c.kind == "APPEAL_REVIEW", W.c.state == "OPEN"))

        [item] = await eventually(review_item, timeout=60)
        assert (item["request_id"], item["nik"], item["due_at"]) == (uuid.UUID(rejected), NIK, due_at)
        shown = (await client.get(f"/v1/appeals/{appeal_id}", headers=headers["dinsos"])).json()
        assert (shown["status"], shown["reasons"], shown["decided_at"]) == ("OPEN", ["DESIL_ABOVE_5"], None)

        # A re-ranking arrives: upheld, reactivated through the decision path, exactly once under redelivery.
        rerank = DesilUpdated(
            occurred_at=NOW, source="DTSEN", nik=NIK, desil=3, effective_on=DEACTIVATED_ON + dt.timedelta(days=20)
        )
        await produce(settings, PARTICIPANT_EVENTS, rerank, rerank)
        [upheld] = await decisions.wait_for(of_appeal(appeal_id, AppealStatus.UPHELD), timeout=60)
        [approval] = await decisions.wait_for(of_request(uuid.UUID(rejected), "APPROVED"))
        assert approval.appeal_id == appeal_id and approval.reasons == []

        async def appeal_upheld() -> bool:
            got = (await client.get(f"/v1/appeals/{appeal_id}", headers=headers["dinsos"])).json()
            return got["status"] == "UPHELD" and got["decided_at"] is not None

        await eventually(appeal_upheld, timeout=60)
        status = (await client.get(f"/v1/reactivations/{rejected}", headers=headers["dinsos"])).json()
        assert status["status"] == "APPROVED"

        async def active_and_item_done() -> bool:
            [person] = await query(settings, select(P.c.status).where(P.c.nik == NIK))
            [done] = await query(settings, select(W).where(W.c.item_id == item["item_id"]))
            return person["status"] == "ACTIVE" and done["state"] == "DONE" and done["closed_by"] == "system:appeal"

        await eventually(active_and_item_done, timeout=60)

        # Redelivery: the appeal and the re-ranking again, then wait until every consumer of the facts caught up.
        resent = as_intake_sent_it(appeal_id, rejected)
        under_new_id = resent.model_copy(update={"event_id": uuid.uuid4()})
        await produce(settings, APPEALS, resent, under_new_id)
        await produce(settings, PARTICIPANT_EVENTS, rerank)
        await eventually(lambda: consumed(settings, PARTICIPANT_EVENTS), timeout=60)
        await eventually(lambda: _processed(settings, under_new_id.event_id), timeout=60)
        await eventually(lambda: _relayed(settings), timeout=60)
        await decisions.poll()
        approvals = [e for e in decisions.events if of_request(uuid.UUID(rejected), "APPROVED")(e)]
        upheld_events = [e for e in decisions.events if of_appeal(appeal_id, AppealStatus.UPHELD)(e)]
        assert len({e.event_id for e in approvals}) == 1 and len({e.event_id for e in upheld_events}) == 1
        assert [e.status for e in decisions.events if of_appeal(appeal_id)(e)] == [
            AppealStatus.OPEN,
            AppealStatus.UPHELD,
        ]
        assert upheld.decided_at == approval.decided_at


def as_intake_sent_it(appeal_id: uuid.UUID, request_id: str) -> AppealRequested:
    """The appeal as intake published it, sent again (a redelivery after a crash)."""
    return AppealRequested(
        event_id=uuid.uuid5(appeal_id, "requested"),
        occurred_at=NOW,
        source="intake:test",
        nik=NIK,
        appeal_id=appeal_id,
        request_id=uuid.UUID(request_id),
        grounds="again",
        channel="DINSOS",
        received_at=NOW,
    )


async def _relayed(settings: Settings) -> bool:
    """Eligibility's outbox is empty: whatever it decided is on the topic."""
    from services.eligibility.store import outbox

    return not await query(settings, select(outbox.c.id))


async def _processed(settings: Settings, event_id: uuid.UUID) -> bool:
    from services.eligibility.store import ProcessedEvent

    t = ProcessedEvent.__table__
    return bool(await query(settings, select(t.c.event_id).where(t.c.event_id == event_id)))


async def test_whatsapp_appeal_by_reference_refusals_and_a_dismissal(settings: Settings) -> None:
    """Eligibility alone: BANDING's event names the request by its reference; a second appeal of the same
    decision and an unknown reference are refused; an operator's dismissal is final (a later cure does not
    uphold it)."""
    common = settings.model_dump()
    deactivated, sibling = (  # one family phone on file for two people
        ParticipantDeactivated(
            occurred_at=NOW,
            source="SIKS-NG",
            nik=nik,
            reason="DESIL_ABOVE_5",
            deactivated_on=DEACTIVATED_ON,
            phone="081234567890",
        )
        for nik in (NIK, ELIGIBLE_NIK)
    )
    ranked = DesilUpdated(
        occurred_at=NOW, source="DTSEN", nik=NIK, desil=8, effective_on=DEACTIVATED_ON + dt.timedelta(days=3)
    )
    biometric = BiometricRecorded(occurred_at=NOW, source="DUKCAPIL", nik=NIK, recorded_on=NOW.date())
    request = regular(NIK).model_copy(update={"channel": Channel.WHATSAPP})  # model_copy does not validate

    def banding(ref: str, nik: str = NIK) -> AppealRequested:
        return AppealRequested(
            occurred_at=NOW,
            source="notifier",
            nik=nik,
            appeal_id=uuid.uuid4(),
            request_ref=ref,
            channel="WHATSAPP",
            phone="+6281234567890",
            received_at=NOW,
        )

    async with (
        running(eligibility_app(EligibilitySettings(**common))),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
    ):
        await produce(settings, PARTICIPANT_EVENTS, deactivated, sibling, ranked, biometric)

        async def facts_in() -> bool:
            t = FactsRow.__table__
            return bool(await query(settings, select(t.c.nik).where(t.c.nik == NIK, t.c.biometric_recorded)))

        await eventually(facts_in, timeout=60)
        await produce(settings, REACTIVATION_REQUESTS, request)
        [rejection] = await decisions.wait_for(of_request(request.request_id), timeout=60)
        assert rejection.outcome is Outcome.REJECTED

        first, second, wrong = (
            banding(request_reference(request.request_id).lower()),
            banding(request_reference(request.request_id)),
            banding("abcdef12"),
        )
        await produce(settings, APPEALS, first)
        [opened] = await decisions.wait_for(of_appeal(first.appeal_id), timeout=60)
        assert (opened.status, opened.request_id, opened.reasons) == (
            AppealStatus.OPEN,
            request.request_id,
            ["DESIL_ABOVE_5"],
        )
        assert opened.due_at == NOW + FOURTEEN_DAYS and opened.phone == "+6281234567890"
        # The same BANDING reached eligibility for the sibling too (the notifier appeals for every NIK on file
        # for the number): the reference names the other's request, so the sibling's says nothing.
        for_sibling = banding(request_reference(request.request_id), ELIGIBLE_NIK)
        await produce(settings, APPEALS, for_sibling, second, wrong)
        [refused] = await decisions.wait_for(of_appeal(second.appeal_id), timeout=60)
        [unknown] = await decisions.wait_for(of_appeal(wrong.appeal_id), timeout=60)
        assert (refused.status, refused.reasons) == (AppealStatus.REFUSED, ["ALREADY_APPEALED"])
        assert (unknown.status, unknown.reasons) == (AppealStatus.REFUSED, ["UNKNOWN_REQUEST"])
        await eventually(lambda: _processed(settings, for_sibling.event_id), timeout=60)
        await eventually(lambda: _relayed(settings), timeout=60)
        await decisions.poll()
        assert not [e for e in decisions.events if of_appeal(for_sibling.appeal_id)(e)]

        review = AppealReviewed(
            occurred_at=NOW, source="intake:ops", nik=NIK, appeal_id=first.appeal_id, reviewer="ops"
        )
        await produce(settings, APPEALS, review, review)
        [dismissed] = await decisions.wait_for(of_appeal(first.appeal_id, AppealStatus.DISMISSED), timeout=60)
        assert dismissed.reasons == ["DESIL_ABOVE_5"] and dismissed.decided_at is not None

        cure = DesilUpdated(
            occurred_at=NOW, source="DTSEN", nik=NIK, desil=2, effective_on=DEACTIVATED_ON + dt.timedelta(days=9)
        )
        await produce(settings, PARTICIPANT_EVENTS, cure)
        await eventually(lambda: _processed(settings, cure.event_id), timeout=60)
        await decisions.poll()
        assert not [e for e in decisions.events if of_request(request.request_id, "APPROVED")(e)]
        assert len([e for e in decisions.events if of_appeal(first.appeal_id, AppealStatus.DISMISSED)(e)]) == 1


async def test_an_operator_of_the_region_dismisses_an_appeal_and_the_item_is_done(
    settings: Settings,
    system,  # type: ignore[no-untyped-def]
) -> None:
    """POST /v1/appeals/{id}/decision (worklist:write): a key bound to another province is 403; the person's
    own regency's key dismisses it (202, done twice harmless); GET finds it by request id; the item is done."""
    client, headers = system
    r = await client.post("/v1/events", json={"events": facts(NIK, 7)}, headers=headers["dtsen"])
    assert r.status_code == 202, r.text

    async def facts_in() -> bool:
        t = FactsRow.__table__
        return bool(await query(settings, select(t.c.nik).where(t.c.nik == NIK, t.c.biometric_recorded)))

    await eventually(facts_in, timeout=60)
    rejected = await decided_request(client, headers, NIK, "REJECTED")
    r = await client.post(
        "/v1/appeals", json={"request_id": rejected, "grounds": "salah data"}, headers=headers["dinsos"]
    )
    assert r.status_code == 202, r.text
    appeal_id = r.json()["appeal_id"]

    async def review_item() -> list[dict[str, Any]]:
        return await query(
            settings, select(W).where(W.c.kind == "APPEAL_REVIEW", W.c.request_id == uuid.UUID(rejected))
        )

    [item] = await eventually(review_item, timeout=60)
    found = await client.get("/v1/appeals", params={"request_id": rejected}, headers=headers["ops_read"])
    assert found.status_code == 200 and found.json()["appeal_id"] == appeal_id

    decision = {"status": "DISMISSED", "note": "desil 7 dikonfirmasi kelurahan"}
    elsewhere = await client.post(f"/v1/appeals/{appeal_id}/decision", json=decision, headers=headers["ops_jakarta"])
    assert elsewhere.status_code == 403
    for _ in range(2):  # done twice is harmless
        r = await client.post(f"/v1/appeals/{appeal_id}/decision", json=decision, headers=headers["ops_tangsel"])
        assert r.status_code == 202 and r.json() == {"appeal_id": appeal_id, "decision": "DISMISSED"}

    async def dismissed() -> bool:
        got = (await client.get(f"/v1/appeals/{appeal_id}", headers=headers["dinsos"])).json()
        [done] = await query(settings, select(W).where(W.c.item_id == item["item_id"]))
        return got["status"] == "DISMISSED" and got["reasons"] == ["DESIL_ABOVE_5"] and done["state"] == "DONE"

    await eventually(dismissed, timeout=60)
    status = (await client.get(f"/v1/reactivations/{rejected}", headers=headers["dinsos"])).json()
    assert status["status"] == "REJECTED"  # dismissing changes nothing of the request


async def test_an_appeal_upheld_after_the_window_closed_reactivates_a_request_received_in_time(
    settings: Settings,
) -> None:
    """Lateness is judged at the original request's receipt: a request received inside the window, rejected,
    appealed and cured after the window closed is approved, and the registry brings the person back from
    EXPIRED (eligibility and the registry, real broker and database)."""
    common = settings.model_dump()
    deactivated_on = (NOW - dt.timedelta(days=200)).date()  # the window closed about 20 days ago
    received = NOW - dt.timedelta(days=30)  # inside the window
    request = ReactivationRequested(
        occurred_at=received,
        source="intake",
        nik=NIK,
        request_id=uuid.uuid4(),
        path="REGULAR",
        channel="DINSOS",
        received_at=received,
    )
    facts_then = [
        ParticipantDeactivated(
            occurred_at=NOW, source="SIKS-NG", nik=NIK, reason="DESIL_ABOVE_5", deactivated_on=deactivated_on
        ),
        DesilUpdated(
            occurred_at=NOW, source="DTSEN", nik=NIK, desil=7, effective_on=deactivated_on + dt.timedelta(days=3)
        ),
        BiometricRecorded(occurred_at=NOW, source="DUKCAPIL", nik=NIK, recorded_on=NOW.date()),
    ]
    async with (
        running(eligibility_app(EligibilitySettings(**common))),
        running(registry_app(RegistrySettings(**common))),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
    ):
        await produce(settings, PARTICIPANT_EVENTS, *facts_then)

        async def expired_in_registry() -> bool:
            rows = await query(settings, select(P.c.status).where(P.c.nik == NIK))
            return bool(rows) and rows[0]["status"] == "EXPIRED"

        await eventually(expired_in_registry, timeout=60)

        async def facts_in() -> bool:
            t = FactsRow.__table__
            return bool(await query(settings, select(t.c.nik).where(t.c.nik == NIK, t.c.biometric_recorded)))

        await eventually(facts_in, timeout=60)
        await produce(settings, REACTIVATION_REQUESTS, request)
        [rejection] = await decisions.wait_for(of_request(request.request_id), timeout=60)
        assert (rejection.outcome, rejection.reasons) == (Outcome.REJECTED, ["DESIL_ABOVE_5"])  # not WINDOW_EXPIRED

        appeal = as_intake_sent_it(uuid.uuid4(), str(request.request_id))
        await produce(settings, APPEALS, appeal)
        await decisions.wait_for(of_appeal(appeal.appeal_id, AppealStatus.OPEN), timeout=60)
        cure = DesilUpdated(
            occurred_at=NOW, source="DTSEN", nik=NIK, desil=4, effective_on=deactivated_on + dt.timedelta(days=40)
        )
        await produce(settings, PARTICIPANT_EVENTS, cure)
        await decisions.wait_for(of_appeal(appeal.appeal_id, AppealStatus.UPHELD), timeout=60)
        [approval] = await decisions.wait_for(of_request(request.request_id, "APPROVED"))
        assert approval.appeal_id == appeal.appeal_id and approval.received_at == received

        async def active_again() -> bool:
            rows = await query(settings, select(P.c.status).where(P.c.nik == NIK))
            return rows[0]["status"] == "ACTIVE"

        await eventually(active_again, timeout=60)

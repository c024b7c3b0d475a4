"""Personal data (UU PDP, issue 18 item 4) on the real broker and database, with the registry, eligibility
and notifier running: an erasure removes name, phone and message texts in every schema and later events
do not bring them back; every read of a participant record is on record; the scopes are enforced."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.eligibility.app import create_app as create_eligibility
from services.eligibility.store import FactsRow, RequestRow
from services.notifier.app import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from services.notifier.store import IN, OO, C, M
from services.registry.app import create_app as create_registry
from services.registry.privacy import ERASURES, READS
from services.registry.store import H, P
from shared.db import make_engine
from shared.enums import Channel, ReactivationPath
from shared.events import AppealRequested, ParticipantDeactivated, ReactivationRequested
from shared.settings import EligibilitySettings, RegistrySettings, Settings
from shared.topics import PARTICIPANT_EVENTS, PRIVACY_EVENTS, REACTIVATION_REQUESTS
from testkit.apps import running
from testkit.kafka import TopicReader, consumed, produce
from testkit.personal_data import rows_holding
from testkit.polling import eventually, eventually_none
from testkit.system import PBI, free_port

NIK = "3674015708900001"
NAME = "Siti Aminah Lestari"
PHONE = "+6281234567890"  # on the deactivation list
REQUEST_PHONE = "+6281298765432"  # given on a request before the erasure
NEW_PHONE = "+6285711112222"  # given on a new request after it
DIGITS = {p: p.removeprefix("+62") for p in (PHONE, REQUEST_PHONE, NEW_PHONE)}  # found whatever the format
NIGHT = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)  # 23:00 WIB: messages wait, queued, for the morning
SCHEMAS = ("registry", "eligibility", "notifier", "intake")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class System:
    settings: Settings
    registry: FastAPI
    client: httpx.AsyncClient
    engine: AsyncEngine
    admin: str


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    dead = f"http://127.0.0.1:{free_port()}"  # no provider: nothing leaves this test
    notifier = create_notifier(
        NotifierSettings(**settings.model_dump(), whatsapp_api_base=dead, twilio_api_base=dead), clock=lambda: NIGHT
    )
    async with (
        running(create_registry(RegistrySettings(**settings.model_dump()))) as registry,
        running(create_eligibility(EligibilitySettings(**settings.model_dump()))),
        running(notifier),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=registry), base_url="http://registry") as client,
    ):
        engine = make_engine(settings)
        admin = await registry.state.api_keys.issue("privacy officer", ["privacy:admin"])
        try:
            yield System(settings, registry, client, engine, admin)
        finally:
            await engine.dispose()


def deactivation(on: dt.date, at: dt.datetime) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=at, source="SIKS-NG", nik=NIK, reason="DESIL_ABOVE_5", deactivated_on=on, name=NAME, phone=PHONE
    )


def request(phone: str, received: dt.datetime) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=received,
        source="intake",
        nik=NIK,
        request_id=uuid.uuid4(),
        path=ReactivationPath.REGULAR,
        channel=Channel.DINSOS,
        phone=phone,
        received_at=received,
    )


async def leftovers(engine: AsyncEngine, *needles: str) -> list[str]:
    """Every row of every table of the services' schemas that still holds one of `needles`, as text (a row
    once per needle it holds)."""
    async with engine.connect() as conn:
        return await rows_holding(conn, SCHEMAS, needles)


async def applied(engine: AsyncEngine, event: ParticipantDeactivated) -> bool:
    """The deactivation went through the registry and the notifier (each one's processed ids) and eligibility
    (keyed by its effect there, no inbox row: the person's facts carry its date or a later one)."""
    async with engine.connect() as conn:
        for schema in ("registry", "notifier"):
            seen = text(f"select 1 from {schema}.processed_events where event_id = :id")
            if (await conn.execute(seen, {"id": event.event_id})).first() is None:
                return False
        facts = FactsRow.__table__  # type: ignore[attr-defined]
        on = await conn.scalar(select(facts.c.deactivated_on).where(facts.c.nik == event.nik))
    return on is not None and on >= event.deactivated_on


async def contact_data_everywhere(s: System) -> bool:
    """The number is in every service, and the pending decision went through (status, its message)."""
    async with s.engine.connect() as conn:
        person = (await conn.execute(select(P.c.phone, P.c.status).where(P.c.nik == NIK))).one_or_none()
        facts = await conn.scalar(select(FactsRow.__table__.c.phone).where(FactsRow.__table__.c.nik == NIK))
        stored = await conn.scalar(select(RequestRow.__table__.c.event).where(RequestRow.__table__.c.nik == NIK))
        contact = await conn.scalar(select(C.c.phone).where(C.c.nik == NIK))
        texts = (await conn.execute(select(M.c.text).where(M.c.nik == NIK, M.c.text != ""))).all()
    if person is None or tuple(person) != (PHONE, "REACTIVATION_PENDING"):
        return False
    # The contact's number is the list's or the request's, whichever came last (two topics, no order).
    stored_phone = bool(stored and stored["phone"])
    return facts == PHONE and stored_phone and contact in (PHONE, REQUEST_PHONE) and len(texts) >= 3


async def erase(s: System) -> httpx.Response:
    return await s.client.delete(f"/v1/participants/{NIK}/personal-data", headers=auth(s.admin))


async def test_erasure_removes_name_phone_and_texts_everywhere_and_a_later_event_does_not_bring_them_back(
    system: System,
) -> None:
    s = system
    listed = deactivation(dt.date(2026, 11, 1), NIGHT - dt.timedelta(days=20))
    await produce(s.settings, PARTICIPANT_EVENTS, listed)
    # The list first: a request eligibility saw before it would be held, then rejected NOT_DEACTIVATED once
    # the grace (counted from its receipt, days ago here) is over.
    await eventually(lambda: applied(s.engine, listed), timeout=60)
    await produce(s.settings, REACTIVATION_REQUESTS, request(REQUEST_PHONE, NIGHT - dt.timedelta(days=2)))
    await eventually(lambda: contact_data_everywhere(s), timeout=60)
    await _the_number_wrote_stop_and_got_a_general_answer(s)
    assert await leftovers(s.engine, *DIGITS.values())  # the scan does find them before

    answer = await erase(s)
    assert answer.status_code == 202, answer.text
    assert answer.json()["nik"] == "3674********0001"
    await eventually_none(lambda: _left(s), timeout=60, interval=0.5)

    # Decisions and status history stay, keyed by NIK, and the queued messages are not sent to anyone.
    async with s.engine.connect() as conn:
        assert await conn.scalar(select(C.c.opted_out).where(C.c.nik == NIK))  # the STOP still holds, by NIK
        assert await conn.scalar(select(P.c.status).where(P.c.nik == NIK)) == "REACTIVATION_PENDING"
        assert (await conn.execute(select(H.c.event_type).where(H.c.nik == NIK))).all()
        assert await conn.scalar(select(RequestRow.__table__.c.outcome).where(RequestRow.__table__.c.nik == NIK))
        states = set((await conn.execute(select(M.c.state).where(M.c.nik == NIK))).scalars())
    assert states and "QUEUED" not in states

    # Kafka keeps flowing: a newer deactivation with the number, and the old one replayed under a new id.
    later = deactivation(dt.date(2026, 11, 20), NIGHT)
    replayed = listed.model_copy(update={"event_id": uuid.uuid4()})
    await produce(s.settings, PARTICIPANT_EVENTS, later, replayed)
    await eventually(lambda: applied(s.engine, later), timeout=60)
    await eventually(lambda: applied(s.engine, replayed), timeout=60)
    await eventually(lambda: consumed(s.settings, PARTICIPANT_EVENTS), timeout=60)  # eligibility's facts too
    assert await leftovers(s.engine, NAME, *DIGITS.values()) == []

    # Twice is harmless: the same state, one marker.
    again = await erase(s)
    assert again.status_code == 202
    await eventually_none(lambda: _left(s), timeout=60, interval=0.5)
    async with s.engine.connect() as conn:
        assert await conn.scalar(select(text("count(*)")).select_from(ERASURES).where(ERASURES.c.nik == NIK)) == 1


async def _the_number_wrote_stop_and_got_a_general_answer(s: System) -> None:
    """What the citizens' channel keeps of a number (services/notifier/inbound.py) and an appeal kept as
    received (services/eligibility/appeals.py), written as they would."""
    async with s.engine.begin() as conn:
        appeal = AppealRequested(
            occurred_at=NIGHT,
            source="intake",
            nik=NIK,
            appeal_id=uuid.uuid4(),
            request_id=uuid.uuid4(),
            grounds="Desil kami salah",
            channel=Channel.DINSOS,
            phone=REQUEST_PHONE,
            received_at=NIGHT,
        )
        await conn.execute(
            text(
                "insert into eligibility.appeals (appeal_id, request_id, nik, status, reasons, received_at, due_at, "
                "event) values (:id, :request, :nik, 'DISMISSED', '{}', :at, :at, cast(:event as json))"
            ),
            {
                "id": appeal.appeal_id,
                "request": appeal.request_id,
                "nik": NIK,
                "at": NIGHT,
                "event": appeal.model_dump_json(),
            },
        )
        await conn.execute(insert(OO).values(phone=PHONE, opted_out=True, changed_at=NIGHT))
        await conn.execute(
            insert(IN).values(inbound_id="wamid.1", channel="WHATSAPP", phone=PHONE, command="STOP", received_at=NIGHT)
        )
        await conn.execute(
            insert(M).values(
                message_id=uuid.uuid4(),
                nik=None,
                kind="general_answer",
                text="Informasi umum PBI JKN",
                phone=PHONE,
                state="SENT",
                send_after=NIGHT,
                updated_at=NIGHT,
            )
        )


async def _left(s: System) -> list[str]:
    return await leftovers(s.engine, NAME, *DIGITS.values())


async def test_a_new_request_after_the_erasure_brings_the_number_it_gives_and_only_that(system: System) -> None:
    s = system
    await produce(s.settings, PARTICIPANT_EVENTS, deactivation(dt.date(2026, 11, 1), NIGHT - dt.timedelta(days=20)))
    await eventually(lambda: _contact_phone(s, PHONE), timeout=60)
    assert (await erase(s)).status_code == 202
    await eventually_none(lambda: _left(s), timeout=60, interval=0.5)

    # The person asks again and gives a number: their own new act (shared.privacy).
    await produce(s.settings, REACTIVATION_REQUESTS, request(NEW_PHONE, dt.datetime.now(dt.UTC)))
    await eventually(lambda: _contact_phone(s, NEW_PHONE), timeout=60)
    assert await leftovers(s.engine, NAME, DIGITS[PHONE]) == []


async def _contact_phone(s: System, phone: str) -> bool:
    async with s.engine.connect() as conn:
        return await conn.scalar(select(C.c.phone).where(C.c.nik == NIK)) == phone


async def test_the_erasure_is_announced_once_per_call_without_personal_data(system: System) -> None:
    s = system
    async with TopicReader(s.settings, s.settings.topic_prefix + PRIVACY_EVENTS.name) as reader:
        assert (await erase(s)).status_code == 202
        events = await reader.wait_for(lambda e: e.nik == NIK)
        raw = reader.raw[0].value.decode()
    assert events[0].type == "participant.personal_data_erased"
    assert events[0].requested_by == s.admin.split("_")[1]  # the key id, never the key
    assert not any(d in raw for d in DIGITS.values()) and NAME not in raw


async def test_every_read_of_a_participant_record_is_on_the_access_log(system: System) -> None:
    s = system
    await produce(s.settings, PARTICIPANT_EVENTS, deactivation(dt.date(2026, 11, 1), NIGHT - dt.timedelta(days=20)))
    keys = s.registry.state.api_keys
    officer = await keys.issue("officer", ["participants:read"])
    board = await keys.issue("ops room", ["dashboard:read"])

    async def readable() -> bool:
        return (await s.client.get(f"/v1/participants/{NIK}", headers=auth(officer))).status_code == 200

    await eventually(readable, timeout=60)
    assert (await s.client.get(f"/v1/participants/{NIK}", headers=auth(board))).status_code == 200
    unknown = "3674015708900099"
    assert (await s.client.get(f"/v1/participants/{unknown}", headers=auth(officer))).status_code == 404

    log = (await s.client.get(f"/v1/participants/{NIK}/access-log", headers=auth(s.admin))).json()
    assert log["nik"] == "3674********0001"
    reads = log["reads"]
    assert [(r["key_id"], r["view"]) for r in reads[:2]] == [
        (board.split("_")[1], "masked"),
        (officer.split("_")[1], "full"),
    ]
    assert all(r["read_at"] for r in reads)
    other = (await s.client.get(f"/v1/participants/{unknown}/access-log", headers=auth(s.admin))).json()
    assert [(r["key_id"], r["view"]) for r in other["reads"]] == [(officer.split("_")[1], "not_found")]


async def test_concurrent_reads_are_each_logged_with_fewer_inserts_than_reads(system: System) -> None:
    s = system
    await produce(s.settings, PARTICIPANT_EVENTS, deactivation(dt.date(2026, 11, 1), NIGHT - dt.timedelta(days=20)))
    officer = await s.registry.state.api_keys.issue("officer", ["participants:read"])
    await eventually(lambda: _status(s.client.get(f"/v1/participants/{NIK}", headers=auth(officer)), 200), timeout=60)
    access_log = s.registry.state.privacy.access_log
    before_rows, before_writes = await _reads(s.engine), access_log.writes
    answers = await asyncio.gather(*(s.client.get(f"/v1/participants/{NIK}", headers=auth(officer)) for _ in range(40)))
    assert {a.status_code for a in answers} == {200}
    assert await _reads(s.engine) == before_rows + 40  # each answered read is already on record
    assert access_log.writes - before_writes < 40


async def _status(call, code: int) -> bool:  # type: ignore[no-untyped-def]
    return (await call).status_code == code


async def _reads(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(text("count(*)")).select_from(READS).where(READS.c.nik == NIK)) or 0)


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", f"/v1/participants/{NIK}/personal-data"), ("GET", f"/v1/participants/{NIK}/access-log")],
)
async def test_privacy_endpoints_need_the_privacy_admin_scope(system: System, method: str, path: str) -> None:
    s = system
    keys = s.registry.state.api_keys
    assert (await s.client.request(method, path)).status_code == 401
    assert (await s.client.request(method, path, headers=auth("pbi_0123456789ab_" + "x" * 43))).status_code == 401
    for scopes in (["participants:read"], ["dashboard:read"], ["events:write"], ["reactivations:write"]):
        key = await keys.issue("not privacy", scopes)
        assert (await s.client.request(method, path, headers=auth(key))).status_code == 403, scopes
    bad = path.replace(NIK, "12345")
    assert (await s.client.request(method, bad, headers=auth(s.admin))).status_code == 422
    async with s.engine.connect() as conn:  # nothing was erased by the refused calls
        assert await conn.scalar(select(text("count(*)")).select_from(ERASURES)) == 0


async def test_pbi_privacy_erase_erases_everywhere_and_prints_the_nik_masked(system: System) -> None:
    s = system
    await produce(s.settings, PARTICIPANT_EVENTS, deactivation(dt.date(2026, 11, 1), NIGHT - dt.timedelta(days=20)))
    await eventually(lambda: _contact_phone(s, PHONE), timeout=60)
    env = {
        **os.environ,
        "DATABASE_URL": s.settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": s.settings.kafka_bootstrap_servers,
        "TOPIC_PREFIX": s.settings.topic_prefix,
        "PBI_ENV": "local",
        "COLUMNS": "200",
    }

    def pbi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PBI, "privacy", "erase", *args], env=env, capture_output=True, text=True)

    done = await asyncio.to_thread(pbi, NIK)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "3674********0001" in out and NIK not in out
    await eventually_none(
        lambda: _left(s), timeout=60, interval=0.5
    )  # the notifier and eligibility got the announcement
    assert (await asyncio.to_thread(pbi, NIK)).returncode == 0  # twice: harmless
    refused = await asyncio.to_thread(pbi, "12345")
    assert refused.returncode == 2

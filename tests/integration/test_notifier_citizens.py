"""Citizens on WhatsApp, through the provider simulator's signed inbound webhook, on real Kafka and
PostgreSQL: CEK from the number on file gets the status, from another number the general answer; one
inbound id is answered once; answers are rate-limited per number; STOP cancels what is queued and blocks
what comes, also for a number no contact names yet; MULAI resumes; BANDING travels on to eligibility."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, insert, select

from services.notifier.app import create_app
from services.notifier.domain import answers
from services.notifier.signatures import twilio_signature
from services.notifier.store import IN, OO, C, M
from shared.appeals import appeal_id_for_message, request_reference
from shared.events import AppealRequested, ParticipantDeactivated, ReactivationRequested
from shared.settings import Settings
from shared.topics import APPEALS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from testkit.apps import serving
from testkit.clock import Clock
from testkit.kafka import TopicReader, produce
from testkit.notifier import Sim, notifier_settings
from testkit.polling import eventually

NIK = "3674015708900001"  # Kota Tangerang Selatan, WIB
MASKED = "3674********0001"
PHONE = "+6281234567890"
OTHER = "+6281399998888"
DAYTIME = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB
NIGHT = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # 22:00 WIB: quiet hours


def deactivation(on: dt.date = dt.date(2026, 11, 1), at: dt.datetime = DAYTIME) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=at, source="SIKS-NG", nik=NIK, reason="NO_BIOMETRIC", deactivated_on=on, phone="081234567890"
    )


async def say(sim: Sim, phone: str, text: str, clock: Clock, message_id: str | None = None) -> str:
    """A signed inbound WhatsApp message, stamped at the notifier's clock; returns its id."""
    body: dict[str, Any] = {"from": phone, "text": text, "timestamp": int(clock.now.timestamp())}
    if message_id:
        body["id"] = message_id
    answer = (await sim.call("POST", "/_sim/inbound", json=body)).json()
    assert answer["status"] == 200, answer
    return str(answer["id"])


async def sent_to(sim: Sim, phone: str) -> list[str]:
    return [m["text"] for m in (await sim.call("GET", "/_sim/messages", params={"to": phone})).json()]


async def messages(app: FastAPI, **where: Any) -> list[dict[str, Any]]:
    async with app.state.sessions() as s:
        query = select(M).where(*(M.c[k] == v for k, v in where.items()))
        return [dict(r) for r in (await s.execute(query)).mappings()]


async def replies(app: FastAPI) -> list[dict[str, Any]]:
    return [m for m in await messages(app) if m["kind"].startswith("reply_")]


async def standing_known(app: FastAPI) -> bool:
    async with app.state.sessions() as s:
        return bool(await s.scalar(select(M.c.message_id).where(M.c.nik == NIK, M.c.kind == "deactivated")))


async def test_cek_from_the_number_on_file_gets_the_status_and_another_number_the_general_answer(
    settings: Settings, sim: Sim
) -> None:
    clock = Clock(DAYTIME)
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with serving(app, sim.notifier_port):
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: standing_known(app))
        await say(sim, "6281234567890", " *Cek!* ", clock)  # as WhatsApp gives it: no +
        await say(sim, OTHER, "CEK", clock)

        async def answered() -> bool:
            return any("Sisa" in t for t in await sent_to(sim, PHONE)) and bool(await sent_to(sim, OTHER))

        await eventually(answered)
    status = [t for t in await sent_to(sim, PHONE) if t.startswith("PBI JKN NIK") and "Sisa" in t]
    assert len(status) == 1
    text = status[0]
    assert MASKED in text and NIK not in text
    assert "NONAKTIF sejak 01-11-2026" in text and "Sisa 158 hari untuk reaktivasi (s.d. 01-05-2027)" in text
    assert "rekam biometrik di Disdukcapil Kota Tangerang Selatan" in text
    assert await sent_to(sim, OTHER) == [answers.GENERAL]
    reply = [r for r in await replies(app) if r["phone"] == PHONE][0]
    assert reply["urgent"] and reply["kind"] == "reply_status" and reply["nik"] == NIK


async def test_one_inbound_message_is_answered_once_and_answers_are_rate_limited_per_number(
    settings: Settings, sim: Sim
) -> None:
    clock = Clock(DAYTIME)
    app = create_app(notifier_settings(settings, sim, inbound_replies_per_window=2), clock=clock)
    async with serving(app, sim.notifier_port):
        # The same inbound message delivered twice (WhatsApp retries a webhook it thinks failed).
        first = await say(sim, OTHER, "cek", clock, message_id="wamid.HBgLNjI4MTIzNDU2Nzg5MBUCABIYIDNB")
        await say(sim, OTHER, "cek", clock, message_id=first)
        assert len(await replies(app)) == 1  # the webhook answered after committing
        for _ in range(3):  # one more answer fits the window (2 per number), the next two do not
            await say(sim, OTHER, "halo", clock)
        await say(sim, PHONE, "halo", clock)  # another number has its own budget
        await eventually(lambda: _all_sent(app, 3))
        async with app.state.sessions() as s:
            outcomes = sorted((await s.scalars(select(IN.c.outcome).where(IN.c.phone == OTHER))).all())
    assert outcomes == ["ANSWERED", "ANSWERED", "RATE_LIMITED", "RATE_LIMITED"]
    assert await sent_to(sim, OTHER) == [answers.GENERAL, answers.HELP]
    assert await sent_to(sim, PHONE) == [answers.HELP]


async def _all_sent(app: FastAPI, count: int) -> bool:
    done = [r for r in await replies(app) if r["state"] in ("SENT", "DELIVERED")]
    return len(done) == count


async def test_stop_cancels_queued_messages_blocks_new_ones_even_before_any_contact_and_mulai_resumes(
    settings: Settings, sim: Sim
) -> None:
    clock = Clock(NIGHT)  # the notices wait for 07:00: still queued when the person says STOP
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with serving(app, sim.notifier_port):
        # 1. A number nobody has on file yet says STOP; then a deactivation brings it: never queued.
        await say(sim, OTHER, "STOP.", clock)
        other = ParticipantDeactivated(
            occurred_at=NIGHT, source="SIKS-NG", nik="3674015708900002", reason="OTHER",
            deactivated_on=dt.date(2026, 11, 1), phone=OTHER,
        )  # fmt: skip
        await produce(settings, PARTICIPANT_EVENTS, other)
        await eventually(lambda: messages(app, phone=OTHER, state="SKIPPED"))

        # 2. A notice held by quiet hours, then "berhenti!": cancelled at once.
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: messages(app, phone=PHONE, state="QUEUED"))
        await say(sim, "6281234567890", "berhenti!", clock)
        held = await messages(app, phone=PHONE)
        assert [m["state"] for m in held] == ["SKIPPED"] and not await messages(app, state="QUEUED")

        # 3. Morning comes: nothing is sent to either number.
        clock.now = DAYTIME + dt.timedelta(days=1)
        app.state.sender.wake()
        await say(sim, PHONE, "MULAI", clock)  # back in: confirmed (an urgent answer)
        await eventually(lambda: _sent(sim, PHONE, answers.RESUMED))
        await produce(settings, PARTICIPANT_EVENTS, deactivation(on=dt.date(2026, 11, 20), at=clock.now))
        await eventually(lambda: _sent(sim, PHONE, "dinonaktifkan per 20-11-2026"))
    assert await sent_to(sim, OTHER) == []
    texts = await sent_to(sim, PHONE)
    assert len(texts) == 2 and "01-11-2026" not in " ".join(texts)  # the cancelled notice never went out


async def _sent(sim: Sim, phone: str, part: str) -> bool:
    return any(part in t for t in await sent_to(sim, phone))


async def test_a_message_queued_while_stop_was_recorded_is_cancelled_at_its_claim(settings: Settings, sim: Sim) -> None:
    # The race the handler cannot see: it read the number as not opted out, STOP committed after.
    clock = Clock(DAYTIME)
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with serving(app, sim.notifier_port):
        async with app.state.sessions() as s, s.begin():
            await s.execute(insert(OO).values(phone=PHONE, opted_out=True, changed_at=DAYTIME))
            row = {"nik": NIK, "phone": PHONE, "text": "x", "send_after": DAYTIME, "updated_at": DAYTIME}
            await s.execute(insert(M).values(message_id=uuid.uuid4(), kind="deactivated", **row))
        app.state.sender.wake()
        skipped = await eventually(lambda: messages(app, state="SKIPPED"))
    assert skipped[0]["attempts"] == 0 and await sent_to(sim, PHONE) == []


async def test_banding_from_the_number_on_file_goes_to_eligibility_as_an_appeal(settings: Settings, sim: Sim) -> None:
    clock = Clock(DAYTIME)
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with serving(app, sim.notifier_port), TopicReader(settings, settings.topic_prefix + APPEALS.name) as topic:
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: standing_known(app))
        inbound_id = await say(sim, PHONE, "Banding 3f2a9c1b.", clock)
        await say(sim, PHONE, "Banding 3f2a9c1b.", clock, message_id=inbound_id)  # redelivered: one appeal
        await say(sim, OTHER, "BANDING 3F2A9C1B", clock)  # not on file: the general answer, no appeal
        appeals = await topic.wait_for(lambda e: isinstance(e, AppealRequested))
        await eventually(lambda: _sent(sim, OTHER, answers.GENERAL))
        await eventually(lambda: _sent(sim, PHONE, "banding"))
        await topic.poll()
    assert len([e for e in topic.events if isinstance(e, AppealRequested)]) == 1
    appeal = appeals[0]
    assert appeal.nik == NIK and appeal.request_ref == "3f2a9c1b" and appeal.phone == PHONE
    assert appeal.appeal_id == appeal_id_for_message(inbound_id) and appeal.channel == "WHATSAPP"
    assert answers.appeal_received("3f2a9c1b") in await sent_to(sim, PHONE)


async def test_an_answer_is_urgent_at_night_while_the_notice_waits_and_an_sms_is_answered_by_sms(
    settings: Settings, sim: Sim
) -> None:
    clock = Clock(NIGHT)
    ns = notifier_settings(settings, sim)
    app = create_app(ns, clock=clock)
    async with serving(app, sim.notifier_port), httpx.AsyncClient(base_url=ns.public_base_url) as client:
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: messages(app, phone=PHONE, state="QUEUED"))  # held until 07:00 WIB
        inbound = {"From": PHONE, "Body": "Cek.", "MessageSid": "SM" + uuid.uuid4().hex, "SmsStatus": "received"}
        url = ns.public_base_url + "/webhooks/twilio"
        signature = twilio_signature(ns.twilio_auth_token.get_secret_value(), url, inbound)
        for _ in range(2):  # Twilio retried: one answer
            answer = await client.post("/webhooks/twilio", data=inbound, headers={"X-Twilio-Signature": signature})
            assert answer.status_code == 200
        await eventually(lambda: _sent(sim, PHONE, "Sisa 158 hari"))
        held = await messages(app, kind="deactivated")
    sent = (await sim.call("GET", "/_sim/messages", params={"to": PHONE})).json()
    assert [m["channel"] for m in sent] == ["SMS"] and MASKED in sent[0]["text"]
    assert held[0]["state"] == "QUEUED"  # quiet hours still hold the notice


async def test_stop_and_mulai_are_ordered_by_when_they_were_sent_and_cek_is_answered_after_stop(
    settings: Settings, sim: Sim
) -> None:
    clock = Clock(DAYTIME)
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with serving(app, sim.notifier_port):
        await say(sim, OTHER, "STOP", clock)
        await say(sim, OTHER, "cek", clock)  # asked for: answered though the number is opted out
        await eventually(lambda: _sent(sim, OTHER, answers.GENERAL))
        await say(sim, OTHER, "MULAI", clock)
        # The STOP sent a minute before that MULAI arrives late (Meta retried it): the newer word stands.
        late_stop = {"from": OTHER, "text": "STOP", "timestamp": int(clock.now.timestamp()) - 60}
        assert (await sim.call("POST", "/_sim/inbound", json=late_stop)).json()["status"] == 200
        async with app.state.sessions() as s:
            opted_out = await s.scalar(select(OO.c.opted_out).where(OO.c.phone == OTHER))
    assert opted_out is False


async def test_a_family_phone_gets_one_status_each_and_banding_goes_only_for_the_nik_it_names(
    settings: Settings, sim: Sim
) -> None:
    clock = Clock(DAYTIME)
    app = create_app(notifier_settings(settings, sim), clock=clock)
    sibling = "3674015708900002"
    request_id = uuid.uuid4()
    async with serving(app, sim.notifier_port), TopicReader(settings, settings.topic_prefix + APPEALS.name) as topic:
        await produce(settings, PARTICIPANT_EVENTS, deactivation(), deactivation().model_copy(update={"nik": sibling}))
        request = ReactivationRequested(
            occurred_at=DAYTIME, source="intake", nik=sibling, request_id=request_id, path="REGULAR",
            channel="DINSOS", received_at=DAYTIME,
        )  # fmt: skip
        await produce(settings, REACTIVATION_REQUESTS, request)

        async def request_seen_and_numbers_filed() -> bool:
            # Requests and facts are separate consumers, and the two people's facts may sit on two partitions:
            # CEK is asked once the notifier holds the request and both people's number.
            async with app.state.sessions() as s:
                ids = await s.scalar(select(C.c.request_ids).where(C.c.nik == sibling))
                numbered = await s.scalar(select(func.count()).select_from(C).where(C.c.phone == PHONE))
            return bool(ids) and numbered == 2

        await eventually(request_seen_and_numbers_filed)
        await say(sim, PHONE, "CEK", clock)
        await say(sim, PHONE, f"BANDING {request_reference(request_id)}", clock)
        appeals = await topic.wait_for(lambda e: isinstance(e, AppealRequested))
        await eventually(lambda: _sent(sim, PHONE, "3674********0002: NONAKTIF"))
        await eventually(lambda: _sent(sim, PHONE, "3674********0001: NONAKTIF"))
        await topic.poll()
    assert [e.nik for e in topic.events if isinstance(e, AppealRequested)] == [sibling]
    assert appeals[0].request_ref == request_reference(request_id)

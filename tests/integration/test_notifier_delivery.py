"""Notifier against the provider simulator over real HTTP (both on real sockets), with real Kafka and
PostgreSQL: retries, SMS fallback, dead letters, crash recovery, signed receipts, opt-out, quiet hours."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from services.intake.app import create_app as create_intake
from services.notifier import metrics
from services.notifier.app import create_app
from services.notifier.providers import Provider, TransientError
from services.notifier.sender import AMBIGUOUS
from services.notifier.signatures import twilio_signature, whatsapp_signature
from services.notifier.store import PE, C, M
from services.registry.app import create_app as create_registry
from services.registry.store import P
from shared.enums import DeactivationReason
from shared.events import NotificationUpdated, ParticipantDeactivated, ReactivationRequested
from shared.settings import IntakeSettings, RegistrySettings, Settings
from shared.topics import EMERGENCY_REQUESTS, NOTIFICATION_EVENTS, PARTICIPANT_EVENTS
from testkit.apps import running, serving
from testkit.clock import Clock
from testkit.kafka import TopicReader, produce
from testkit.notifier import Sim, message_rows, messages_in_state, notifier_settings
from testkit.polling import eventually
from testkit.system import free_port

NIK = "3674015708900001"
PHONE = "+6281234567890"
DAYTIME = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB: outside quiet hours


def deactivation(phone: str = "081234567890") -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=DAYTIME,
        source="SIKS-NG",
        nik=NIK,
        reason="DESIL_ABOVE_5",
        deactivated_on=dt.date(2026, 11, 1),
        phone=phone,
    )


async def timed_out(app: FastAPI) -> list[dict[str, Any]]:
    """Messages back in the queue after a provider timeout (waiting to ask the provider first)."""
    return [r for r in await messages_in_state(app, "QUEUED") if str(r["last_error"] or "").startswith(AMBIGUOUS)]


async def test_transient_failures_are_retried_then_sent_once_and_delivered(settings: Settings, sim: Sim) -> None:
    await sim.faults(whatsapp={"status": 503, "times": 2})
    app = create_app(notifier_settings(settings, sim), clock=Clock(DAYTIME))
    topic = settings.topic_prefix + NOTIFICATION_EVENTS.name
    async with serving(app, sim.notifier_port), TopicReader(settings, topic) as updates:
        event = deactivation()
        await produce(settings, PARTICIPANT_EVENTS, event, event)  # the same event twice (redelivery)
        await eventually(lambda: messages_in_state(app, "DELIVERED"))  # the simulator's signed receipt came back
        states = await updates.wait_for(lambda e: isinstance(e, NotificationUpdated) and e.state == "DELIVERED")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim.notifier_port}") as client:
            ready = await client.get("/readyz")
            exposition = (await client.get("/metrics")).text
    assert ready.status_code == 200, ready.text
    assert 'pbi_notifier_sent_total{kind="deactivated",provider="WHATSAPP"}' in exposition
    assert 'pbi_notifier_failed_total{provider="WHATSAPP",reason="transient"}' in exposition
    assert 'pbi_notifier_delivery_total{provider="WHATSAPP",state="DELIVERED"}' in exposition
    sent = await sim.messages()
    assert len(sent) == 1 and sent[0]["channel"] == "WHATSAPP" and sent[0]["to"] == PHONE
    assert "3674********0001" in sent[0]["text"] and NIK not in sent[0]["text"]
    assert (await message_rows(app))[0]["attempts"] == 1  # retried inside one claim with backoff
    assert states[0].nik == NIK and states[0].kind == "deactivated"


async def test_permanent_whatsapp_failure_falls_back_to_sms_and_remembers(settings: Settings, sim: Sim) -> None:
    await sim.faults(invalid_whatsapp=[PHONE])
    app = create_app(notifier_settings(settings, sim), clock=Clock(DAYTIME))
    async with serving(app, sim.notifier_port):
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        delivered = await eventually(lambda: messages_in_state(app, "DELIVERED"))  # Twilio's signed status callback
        async with app.state.sessions() as s:
            contact = (await s.execute(select(C))).mappings().one()
    assert [m["channel"] for m in await sim.messages()] == ["SMS"]
    assert delivered[0]["channel"] == "SMS" and "400" in (delivered[0]["last_error"] or "")
    assert contact["on_whatsapp"] is False


async def test_everything_failing_ends_in_the_dead_letter_topic_with_the_reason(settings: Settings, sim: Sim) -> None:
    await sim.faults(invalid_whatsapp=[PHONE], invalid_sms=[PHONE])
    app = create_app(notifier_settings(settings, sim), clock=Clock(DAYTIME))
    dlq_topic = settings.topic_prefix + NOTIFICATION_EVENTS.dlq
    async with running(app), TopicReader(settings, dlq_topic) as dlq:
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        dead = await dlq.wait_for(lambda e: isinstance(e, NotificationUpdated))
        failed = await eventually(lambda: messages_in_state(app, "FAILED"))
    assert dead[0].state == "FAILED" and "permanent" in (dead[0].reason or "")
    assert b"21211" in dict(dlq.raw[0].headers)["x-dlq-reason"]
    assert failed[0]["attempts"] == 1 and await sim.messages() == []


async def test_transient_failures_until_the_last_attempt_end_in_the_dead_letter_topic(
    settings: Settings, sim: Sim
) -> None:
    await sim.faults(whatsapp={"status": 500, "times": 1000})
    clock = Clock(DAYTIME)
    app = create_app(notifier_settings(settings, sim, max_attempts=2), clock=clock)
    dlq_topic = settings.topic_prefix + NOTIFICATION_EVENTS.dlq
    async with running(app), TopicReader(settings, dlq_topic) as dlq:
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        queued = await eventually(lambda: messages_in_state(app, "QUEUED"))
        await eventually(lambda: _attempted(app))
        clock.now = DAYTIME + dt.timedelta(minutes=10)  # past the backoff
        app.state.sender.wake()
        dead = await dlq.wait_for(lambda e: isinstance(e, NotificationUpdated))
    assert queued and "gave up after 2 attempts" in (dead[0].reason or "")


async def _attempted(app: FastAPI) -> bool:
    return any(r["attempts"] == 1 and r["state"] == "QUEUED" and r["last_error"] for r in await message_rows(app))


class CrashAfterSend:
    """The provider accepts the message, then the notifier dies before recording it."""

    def __init__(self, real: Provider) -> None:
        self.real, self.channel, self.calls = real, real.channel, 0

    async def send(self, to: str, text: str, reference: str) -> str:
        self.calls += 1
        await self.real.send(to, text, reference)
        raise asyncio.CancelledError  # the process is killed here: no DB update follows

    async def lookup(self, reference: str, to: str, text: str) -> str | None:
        return await self.real.lookup(reference, to, text)


class CrashBeforeSend(CrashAfterSend):
    async def send(self, to: str, text: str, reference: str) -> str:
        self.calls += 1
        raise asyncio.CancelledError


@pytest.mark.parametrize("channel", ["WHATSAPP", "SMS"])
@pytest.mark.parametrize("crash", [CrashAfterSend, CrashBeforeSend])
async def test_a_crash_around_the_provider_call_ends_with_exactly_one_message(
    settings: Settings, sim: Sim, channel: str, crash: type[CrashAfterSend]
) -> None:
    if channel == "SMS":
        await sim.faults(invalid_whatsapp=[PHONE])
    # No webhook listener for the crashed run: only reconciliation can find out what happened.
    ns = notifier_settings(settings, sim, public_base_url=f"http://127.0.0.1:{free_port()}")
    app = create_app(ns, clock=Clock(DAYTIME))
    async with running(app):
        crashing = crash(app.state.sender.providers[channel])
        app.state.sender.providers[channel] = crashing
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: _calls(crashing))
        left = await messages_in_state(app, "SENDING")
        # A young SENDING row may be in flight in another instance: reconciliation leaves it alone.
        assert await app.state.sender.reconcile() == 0 and await messages_in_state(app, "SENDING")
    assert left[0]["channel"] == channel
    assert len(await sim.messages()) == (1 if crash is CrashAfterSend else 0)

    # Restarted after the stale-SENDING grace: a younger SENDING row may still be in flight elsewhere.
    restarted = create_app(ns, clock=Clock(DAYTIME + dt.timedelta(minutes=5)))
    async with running(restarted):
        done = await eventually(lambda: messages_in_state(restarted, "SENT"))
        # Nothing left that could still be sent (a wrong second send would need a row queued or sending).
        assert await messages_in_state(restarted, "QUEUED", "SENDING") == []
        assert await restarted.state.sender.send_due() == 0
    received = await sim.messages()
    assert len(received) == 1 and received[0]["channel"] == channel
    assert done[0]["provider_message_id"] == received[0]["id"]


async def _calls(provider: CrashAfterSend) -> bool:
    return provider.calls > 0


async def test_webhooks_verify_signatures_and_opt_out_is_honoured_at_once(settings: Settings, sim: Sim) -> None:
    ns = notifier_settings(settings, sim)
    app = create_app(ns, clock=Clock(DAYTIME))
    async with serving(app, sim.notifier_port), httpx.AsyncClient(base_url=ns.public_base_url) as client:
        challenge = {
            "hub.mode": "subscribe",
            "hub.verify_token": ns.whatsapp_verify_token.get_secret_value(),
            "hub.challenge": "42",
        }
        ok = await client.get("/webhooks/whatsapp", params=challenge)
        assert ok.status_code == 200 and ok.text == "42"
        wrong = await client.get("/webhooks/whatsapp", params=challenge | {"hub.verify_token": "x"})
        assert wrong.status_code == 403

        reply = (
            b'{"entry":[{"changes":[{"value":{"messages":'
            b'[{"from":"6281234567890","type":"text","text":{"body":"berhenti"}}]}}]}]}'
        )
        bad = await client.post("/webhooks/whatsapp", content=reply, headers={"X-Hub-Signature-256": "sha256=00"})
        assert bad.status_code == 401
        unsigned = await client.post("/webhooks/whatsapp", content=reply)
        assert unsigned.status_code == 401
        twilio_params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
        forged = twilio_signature("not-the-token", ns.public_base_url + "/webhooks/twilio", twilio_params)
        bad_twilio = await client.post("/webhooks/twilio", data=twilio_params, headers={"X-Twilio-Signature": forged})
        assert bad_twilio.status_code == 401

        # The first message goes out; then the person replies BERHENTI (signed) and is opted out.
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: messages_in_state(app, "DELIVERED"))
        signature = whatsapp_signature(ns.whatsapp_app_secret.get_secret_value(), reply)
        good = await client.post("/webhooks/whatsapp", content=reply, headers={"X-Hub-Signature-256": signature})
        assert good.status_code == 200

        await produce(settings, PARTICIPANT_EVENTS, deactivation())  # another event for the same person
        skipped = await eventually(lambda: messages_in_state(app, "SKIPPED"))

        # A signed Twilio STOP from another number is accepted (and concerns nobody we know).
        inbound = {"From": "+6281299999999", "Body": "STOP", "MessageSid": "SM2"}
        sms_sig = twilio_signature(
            ns.twilio_auth_token.get_secret_value(), ns.public_base_url + "/webhooks/twilio", inbound
        )
        assert (
            await client.post("/webhooks/twilio", data=inbound, headers={"X-Twilio-Signature": sms_sig})
        ).status_code == 200
        async with app.state.sessions() as s:
            contact = (await s.execute(select(C).where(C.c.nik == NIK))).mappings().one()
    assert contact["opted_out"] is True and len(skipped) == 1
    assert len(await sim.messages()) == 1


async def test_quiet_hours_hold_a_message_until_seven_local_time(settings: Settings, sim: Sim) -> None:
    clock = Clock(dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC))  # 22:00 WIB
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with running(app):
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        held = await eventually(lambda: messages_in_state(app, "QUEUED"))
        assert await app.state.sender.send_due() == 0  # a pass of the sender at 22:00 claims nothing
        assert await sim.messages() == []  # held, not sent
        assert held[0]["send_after"] == dt.datetime(2026, 11, 25, 0, 0, tzinfo=dt.UTC)  # 07:00 WIB
        clock.now = dt.datetime(2026, 11, 25, 0, 1, tzinfo=dt.UTC)
        app.state.sender.wake()
        await eventually(lambda: messages_in_state(app, "SENT", "DELIVERED"))
    assert len(await sim.messages()) == 1


@dataclass
class TimedOut:
    """A notifier serving, its clock at DAYTIME, whose first send of a deactivation's message timed out."""

    app: FastAPI
    clock: Clock
    held: dict[str, Any]  # the message, back in the queue to be looked up at the provider first


@pytest.fixture
async def after_a_timeout(settings: Settings, sim: Sim) -> AsyncIterator[Callable[..., Awaitable[TimedOut]]]:
    """`await after_a_timeout(**faults)`: the simulator told to answer too late (1.5 s against a provider
    timeout of 0.5 s) as `faults` say, a notifier served, a deactivation produced, and its message found
    back in the queue after the timeout. The notifier stops when the test ends."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**faults: Any) -> TimedOut:
            await sim.faults(**faults)
            clock = Clock(DAYTIME)
            app = create_app(notifier_settings(settings, sim, provider_timeout_s=0.5), clock=clock)
            await stack.enter_async_context(serving(app, sim.notifier_port))
            await produce(settings, PARTICIPANT_EVENTS, deactivation())
            [held] = await eventually(lambda: timed_out(app))
            return TimedOut(app, clock, held)

        yield start


@pytest.mark.parametrize("channel", ["WHATSAPP", "SMS"])
async def test_a_timeout_after_the_provider_took_the_message_is_not_sent_twice(
    sim: Sim, after_a_timeout: Callable[..., Awaitable[TimedOut]], channel: str
) -> None:
    """The provider accepts the message but answers too late: the retry asks the provider first."""
    if channel == "SMS":
        await sim.faults(invalid_whatsapp=[PHONE])
    t = await after_a_timeout(**{channel: {"timeout": 1.5, "times": 1, "accept": True}})
    # After the timeout the message waits (2 x the provider timeout) before the provider is asked.
    assert t.held["send_after"] == DAYTIME + dt.timedelta(seconds=1)
    t.clock.now = DAYTIME + dt.timedelta(seconds=2)
    t.app.state.sender.wake()
    sent = await eventually(lambda: messages_in_state(t.app, "SENT", "DELIVERED"))
    received = await sim.messages()
    assert len(received) == 1 and received[0]["channel"] == channel
    assert sent[0]["provider_message_id"] == received[0]["id"]


async def test_the_wait_before_asking_the_provider_doubles_at_every_timeout(
    sim: Sim, after_a_timeout: Callable[..., Awaitable[TimedOut]]
) -> None:
    """A provider that is far behind is given longer each time before "unknown" is believed and it is resent."""
    t = await after_a_timeout(whatsapp={"timeout": 1.5, "times": 2})
    assert t.held["send_after"] == DAYTIME + dt.timedelta(seconds=1)
    t.clock.now = DAYTIME + dt.timedelta(seconds=2)
    t.app.state.sender.wake()

    async def timed_out_twice() -> list[dict[str, Any]]:
        return [r for r in await timed_out(t.app) if r["attempts"] == 2]

    [second] = await eventually(timed_out_twice)
    assert second["send_after"] == t.clock.now + dt.timedelta(seconds=2)
    t.clock.now += dt.timedelta(seconds=3)
    t.app.state.sender.wake()
    await eventually(lambda: messages_in_state(t.app, "SENT", "DELIVERED"))
    assert [m["channel"] for m in await sim.messages()] == ["WHATSAPP"]


async def test_a_timeout_before_the_provider_took_the_message_is_retried(
    sim: Sim, after_a_timeout: Callable[..., Awaitable[TimedOut]]
) -> None:
    t = await after_a_timeout(whatsapp={"timeout": 1.5, "times": 1})
    t.clock.now = DAYTIME + dt.timedelta(seconds=2)
    t.app.state.sender.wake()
    await eventually(lambda: messages_in_state(t.app, "SENT", "DELIVERED"))
    assert [m["channel"] for m in await sim.messages()] == ["WHATSAPP"]


# --- quiet hours at send time (issue 15 item 9) ------------------------------------------------------
# WIB is UTC+7: 21:00 WIB is 14:00 UTC, 07:00 WIB is 00:00 UTC.
SEVEN_WIB = dt.datetime(2026, 11, 25, 0, 0, tzinfo=dt.UTC)


def wib(hour: int, minute: int = 0, second: int = 0, day: int = 24) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=dt.timezone(dt.timedelta(hours=7))).astimezone(
        dt.UTC
    )


async def test_a_retry_that_falls_into_quiet_hours_is_held_until_seven_and_sent_once(
    settings: Settings, sim: Sim
) -> None:
    """The first attempt fails at 20:59:50; its retry (30 s later) would land at 21:00:20: held to 07:00."""
    await sim.faults(whatsapp={"status": 503, "times": 3})  # the claim's three quick tries all fail
    clock = Clock(wib(20, 59, 50))
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with serving(app, sim.notifier_port):
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        [retry] = await eventually(lambda: _retried(app))
        assert retry["send_after"] == SEVEN_WIB  # not 21:00:20
        for night in (wib(21, 0, 20), wib(23, 30), wib(6, 59, 59, day=25)):
            clock.now = night
            assert await app.state.sender.send_due() == 0  # nothing due: the sender sends nothing at night
        assert await sim.messages() == []
        clock.now = wib(7, 0, day=25)
        app.state.sender.wake()
        [sent] = await eventually(lambda: messages_in_state(app, "SENT", "DELIVERED"))
    assert len(await sim.messages()) == 1 and sent["attempts"] == 2


async def _retried(app: FastAPI) -> list[dict[str, Any]]:
    return [r for r in await messages_in_state(app, "QUEUED") if r["attempts"] == 1 and r["last_error"]]


async def test_a_message_recovered_after_a_crash_at_night_waits_for_seven(settings: Settings, sim: Sim) -> None:
    ns = notifier_settings(settings, sim, public_base_url=f"http://127.0.0.1:{free_port()}")
    app = create_app(ns, clock=Clock(wib(20, 58)))
    async with running(app):
        crashing = CrashBeforeSend(app.state.sender.providers["WHATSAPP"])
        app.state.sender.providers["WHATSAPP"] = crashing
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: _calls(crashing))
        assert await messages_in_state(app, "SENDING")

    clock = Clock(wib(21, 10))  # restarted at night, past the stale-SENDING grace: reconciled, not sent
    restarted = create_app(ns, clock=clock)
    async with running(restarted):
        [requeued] = await eventually(lambda: messages_in_state(restarted, "QUEUED"))
        assert requeued["send_after"] == SEVEN_WIB
        assert await restarted.state.sender.send_due() == 0 and await sim.messages() == []
        clock.now = wib(7, 0, 1, day=25)
        restarted.state.sender.wake()
        await eventually(lambda: messages_in_state(restarted, "SENT"))
    assert len(await sim.messages()) == 1


async def test_a_row_due_at_night_is_held_at_the_claim_whatever_queued_it(settings: Settings, sim: Sim) -> None:
    """The gate itself: a QUEUED row whose send_after says 'now' at 22:00 (queued by any path, old or
    new) is put back to 07:00 by the sender, unsent, with no attempt spent."""
    clock = Clock(wib(22))
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with running(app):
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        [queued] = await eventually(lambda: messages_in_state(app, "QUEUED"))
        assert queued["send_after"] == SEVEN_WIB  # as queued; now made due by hand
        held_before = metrics.HELD._value.get()
        async with app.state.sessions() as s, s.begin():
            await s.execute(update(M).where(M.c.message_id == queued["message_id"]).values(send_after=clock.now))
        app.state.sender.wake()
        await eventually(lambda: _more_held_than(held_before))
        [held] = await messages_in_state(app, "QUEUED")
        assert held["send_after"] == SEVEN_WIB and held["attempts"] == 0 and await sim.messages() == []
        clock.now = SEVEN_WIB
        app.state.sender.wake()
        await eventually(lambda: messages_in_state(app, "SENT", "DELIVERED"))
    assert len(await sim.messages()) == 1


async def _more_held_than(count: float) -> bool:
    return bool(metrics.HELD._value.get() > count)


class QuietHoursBeginDuringTheClaim:
    """The first try fails at 20:59:59; by the quick retry it is 21:00 (the clock moves on)."""

    def __init__(self, real: Provider, clock: Clock) -> None:
        self.real, self.channel, self.clock, self.calls = real, real.channel, clock, 0

    async def send(self, to: str, text: str, reference: str) -> str:
        self.calls += 1
        if self.calls == 1:
            self.clock.now = wib(21)
            raise TransientError("503 from the provider")
        return await self.real.send(to, text, reference)

    async def lookup(self, reference: str, to: str, text: str) -> str | None:
        return await self.real.lookup(reference, to, text)


async def test_quiet_hours_are_checked_again_before_every_provider_call(settings: Settings, sim: Sim) -> None:
    clock = Clock(wib(20, 59, 59))
    app = create_app(notifier_settings(settings, sim), clock=clock)
    async with running(app):
        provider = QuietHoursBeginDuringTheClaim(app.state.sender.providers["WHATSAPP"], clock)
        app.state.sender.providers["WHATSAPP"] = provider
        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        [held] = await eventually(lambda: _held_after_a_try(app))
        assert held["send_after"] == SEVEN_WIB and held["attempts"] == 0  # the attempt is given back
        assert provider.calls == 1 and await sim.messages() == []
        clock.now = SEVEN_WIB
        app.state.sender.wake()
        [sent] = await eventually(lambda: messages_in_state(app, "SENT", "DELIVERED"))
    assert len(await sim.messages()) == 1 and provider.calls == 2 and sent["attempts"] == 1


async def _held_after_a_try(app: FastAPI) -> list[dict[str, Any]]:
    return [r for r in await messages_in_state(app, "QUEUED") if r["send_after"] == SEVEN_WIB]


async def test_emergency_messages_are_sent_at_night(settings: Settings, sim: Sim) -> None:
    """Emergency-related messages (the hospital's patient) are urgent: quiet hours do not hold them."""
    clock = Clock(wib(23))
    app = create_app(notifier_settings(settings, sim), clock=clock)
    request = ReactivationRequested(
        occurred_at=clock.now,
        source="intake",
        nik=NIK,
        request_id=uuid.uuid4(),
        path="EMERGENCY",
        channel="HOSPITAL",
        phone=PHONE,
        received_at=clock.now,
    )
    async with running(app):
        await produce(settings, EMERGENCY_REQUESTS, request)
        [sent] = await eventually(lambda: messages_in_state(app, "SENT", "DELIVERED"))
    assert sent["urgent"] and sent["kind"] == "received" and len(await sim.messages()) == 1


# --- facts kept, numbers unusable, the family's notice (issue 15 items 8 and 11) ---------------------


async def test_a_landline_gets_no_message_and_an_unknown_reason_is_kept_end_to_end(
    settings: Settings, sim: Sim
) -> None:
    """Through intake's HTTP API, Kafka, the registry and the notifier: one row with an unknown reason
    and a Jakarta landline, one ordinary row. Both facts are kept; only the mobile gets a message."""
    landline_nik, mobile_nik = "3674015708900011", "3674015708900012"
    common = {"type": "participant.deactivated", "occurred_at": "2026-11-24T10:00:00+07:00", "source": "SIKS-NG"}
    body = {
        "events": [
            {**common, "nik": landline_nik, "deactivated_on": "2026-11-01", "reason": "PINDAH_SEGMEN",
             "phone": "(021) 555-1234"},
            {**common, "nik": mobile_nik, "deactivated_on": "2026-11-01", "reason": "DESIL_ABOVE_5",
             "phone": "0812-3456-7890"},
        ]
    }  # fmt: skip
    intake = create_intake(IntakeSettings(**settings.model_dump()))
    registry = create_registry(RegistrySettings(**settings.model_dump()))
    notifier = create_app(notifier_settings(settings, sim), clock=Clock(DAYTIME))
    # Three services' consumer groups join first: on a loaded machine that alone can take 20 s.
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    async with (
        running(intake),
        running(registry),
        serving(notifier, sim.notifier_port),
        TopicReader(settings, topic) as t,
    ):
        key = await intake.state.api_keys.issue("feed", ["events:write"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=intake), base_url="http://intake") as client:
            r = await client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 202 and r.json()["accepted"] == 2, r.text
        [kept] = await t.wait_for(lambda e: isinstance(e, ParticipantDeactivated) and e.nik == landline_nik, 60)
        people = await eventually(lambda: _registry_people(registry, 2), 60)
        await eventually(lambda: messages_in_state(notifier, "SENT", "DELIVERED"), 60)
        await eventually(lambda: _processed(notifier, kept.event_id), 60)
        messages = await message_rows(notifier)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sim.notifier_port}") as client:
            exposition = (await client.get("/metrics")).text
    assert (kept.reason, kept.source_reason) == ("OTHER", "PINDAH_SEGMEN")
    assert (kept.phone, kept.phone_status, kept.unusable_phone) == (None, "NOT_MOBILE", "+62215551234")
    assert people[landline_nik] == ("INACTIVE", "OTHER") and people[mobile_nik] == ("INACTIVE", "DESIL_ABOVE_5")
    assert [m["nik"] for m in messages] == [mobile_nik]  # the landline's person: processed, nothing queued
    assert [m["to"] for m in await sim.messages()] == [PHONE]
    assert 'pbi_notifier_not_sent_total{kind="deactivated",reason="phone_unusable"}' in exposition


async def _registry_people(registry: FastAPI, n: int) -> dict[str, tuple[str, str]]:
    engine = registry.state.engine
    async with engine.connect() as conn:
        found = (await conn.execute(select(P.c.nik, P.c.status, P.c.deactivation_reason))).all()
    return {nik: (status, reason) for nik, status, reason in found} if len(found) >= n else {}


async def _processed(app: FastAPI, event_id: uuid.UUID) -> bool:
    async with app.state.sessions() as s:
        return bool(await s.scalar(select(PE.c.event_id).where(PE.c.event_id == event_id)))


async def test_the_family_of_a_deceased_person_gets_a_condolence_without_a_reactivation_promise(
    settings: Settings, sim: Sim
) -> None:
    app = create_app(notifier_settings(settings, sim), clock=Clock(DAYTIME))
    death = ParticipantDeactivated(
        occurred_at=DAYTIME,
        source="Dukcapil",
        nik=NIK,
        reason=DeactivationReason.DECEASED,
        deactivated_on=dt.date(2026, 11, 1),
        phone="081234567890",  # the family's number
    )
    async with serving(app, sim.notifier_port):
        await produce(settings, PARTICIPANT_EVENTS, death)
        [sent] = await eventually(lambda: messages_in_state(app, "SENT", "DELIVERED"))
    [text] = [m["text"] for m in await sim.messages()]
    assert sent["kind"] == "deactivated_deceased" and "berduka cita" in text
    assert "eaktivasi" not in text and "24 jam" not in text and "3674********0001" in text and NIK not in text

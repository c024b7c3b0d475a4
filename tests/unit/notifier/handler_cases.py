"""The notifier handler's cases, run against every unit of work: in memory (tests/unit/notifier/
test_handlers_uow.py) and on PostgreSQL (tests/integration/test_notifier_uow_pg.py). A test class there
subclasses `NotifierHandlerCases` and gives the `backend` fixture; the cases speak only through `Backend`,
so the in-memory store can never drift from the database's behaviour unnoticed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol

import pytest

from services.notifier.domain.intents import OnFile
from services.notifier.domain.standing import Standing
from services.notifier.escalation import Escalations
from services.notifier.handlers import NotifierHandlers, release_numbered
from services.notifier.settings import NotifierSettings
from services.notifier.uow import UnitOfWork
from shared.enums import Channel, DeactivationReason, Outcome, ParticipantStatus, ReactivationPath, SlaState
from shared.events import (
    AnyEvent,
    BiometricRecorded,
    EmergencySlaChanged,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
)

NIK = "3674015708900001"  # Banten: WIB
PHONE, OTHER_PHONE, ON_CALL = "+6281234567890", "+6281298765432", "+6281100000009"
NOON = dt.datetime(2026, 11, 24, 5, tzinfo=dt.UTC)  # 12:00 WIB
NIGHT = dt.datetime(2026, 11, 24, 15, tzinfo=dt.UTC)  # 22:00 WIB: quiet hours until 07:00 (00:00 UTC)


class Backend(Protocol):
    def uow(self) -> UnitOfWork: ...
    async def given_contact(self, nik: str, contact: OnFile) -> None: ...
    async def given_opt_out(self, phone: str) -> None: ...
    async def given_erasure(self, nik: str, at: dt.datetime) -> None: ...
    async def messages(self) -> list[dict[str, Any]]: ...  # every column, oldest id order irrelevant
    async def standing(self, nik: str) -> Standing | None: ...
    async def contact(self, nik: str) -> OnFile | None: ...
    async def inbox(self) -> set[uuid.UUID]: ...


def deactivation(
    phone: str | None = PHONE, on: dt.date = dt.date(2026, 11, 1), nik: str = NIK
) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=NOON - dt.timedelta(days=1),
        source="SIKS-NG",
        nik=nik,
        reason=DeactivationReason.DESIL_ABOVE_5,
        deactivated_on=dt.date(2026, 11, 1),
        phone=phone,
    )


def request(path: ReactivationPath = ReactivationPath.REGULAR) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=NOON - dt.timedelta(hours=2),
        source="intake",
        nik=NIK,
        request_id=uuid.uuid4(),
        path=path,
        channel=Channel.HOSPITAL if path is ReactivationPath.EMERGENCY else Channel.DINSOS,
        phone=PHONE,
        received_at=NOON - dt.timedelta(hours=2),
    )


def decision(req: ReactivationRequested, outcome: Outcome) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=NOON - dt.timedelta(hours=1),
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid4(),
        request_id=req.request_id,
        path=req.path,
        channel=req.channel,
        outcome=outcome,
        policy_version="test",
        received_at=req.received_at,
        decided_at=NOON - dt.timedelta(hours=1),
    )


def biometric(nik: str = NIK) -> BiometricRecorded:
    return BiometricRecorded(occurred_at=NOON, source="DUKCAPIL", nik=nik, recorded_on=NOON.date())


def sla(req: ReactivationRequested, state: SlaState) -> EmergencySlaChanged:
    return EmergencySlaChanged(
        occurred_at=NOON,
        source="eligibility",
        nik=NIK,
        request_id=req.request_id,
        sla_state=state,
        sla_deadline=req.received_at + dt.timedelta(hours=24),
        received_at=req.received_at,
    )


class NotifierHandlerCases:
    """Subclasses give a `backend` fixture (a fresh, empty store per test)."""

    def handlers(self, backend: Backend, now: dt.datetime = NOON, *, escalate: bool = False) -> NotifierHandlers:
        settings = NotifierSettings(pbi_env="local", escalation_contacts={"3674": ON_CALL}) if escalate else None
        escalations = Escalations(settings, lambda: now) if settings else None
        return NotifierHandlers(None, lambda: now, lambda: None, escalations, uow=backend.uow)

    async def deliver(self, backend: Backend, *batches: list[AnyEvent], **options: Any) -> None:
        handlers = self.handlers(backend, **options)
        for batch in batches:
            await handlers.on_events(batch)

    async def test_a_deactivation_queues_one_message_to_its_number_and_keeps_the_number(self, backend: Backend) -> None:
        await self.deliver(backend, [deactivation()])
        [m] = await backend.messages()
        assert (m["nik"], m["kind"], m["phone"], m["state"], m["channel"]) == (
            NIK,
            "deactivated",
            PHONE,
            "QUEUED",
            "WHATSAPP",
        )
        assert m["send_after"] == NOON and "3674********0001" in m["text"] and NIK not in m["text"]
        assert await backend.contact(NIK) == OnFile(PHONE)
        standing = await backend.standing(NIK)
        assert standing is not None and standing.status is ParticipantStatus.INACTIVE

    async def test_a_redelivered_deactivation_changes_nothing_and_its_message_key_replaces_the_inbox_row(
        self, backend: Backend
    ) -> None:
        event = deactivation()
        await self.deliver(backend, [event], [event, event])
        assert len(await backend.messages()) == 1
        assert await backend.inbox() == set()  # de-duplicated by the message's id (event id and kind)

    async def test_a_deactivation_without_a_number_tells_nobody_and_the_inbox_records_it(
        self, backend: Backend
    ) -> None:
        event = deactivation(phone=None)
        await self.deliver(backend, [event], [event])
        assert await backend.messages() == []
        assert await backend.inbox() == {event.event_id}
        standing = await backend.standing(NIK)
        assert standing is not None and standing.status is ParticipantStatus.INACTIVE

    async def test_the_number_on_file_is_used_when_the_event_brings_none(self, backend: Backend) -> None:
        await backend.given_contact(NIK, OnFile(PHONE, on_whatsapp=False))  # WhatsApp refused it before
        await self.deliver(backend, [deactivation(phone=None)])
        [m] = await backend.messages()
        assert (m["phone"], m["channel"]) == (PHONE, "SMS")
        assert await backend.inbox() == set()

    async def test_a_new_number_is_tried_on_whatsapp_again(self, backend: Backend) -> None:
        await backend.given_contact(NIK, OnFile(OTHER_PHONE, on_whatsapp=False))
        await self.deliver(backend, [deactivation(phone=PHONE)])
        [m] = await backend.messages()
        assert (m["phone"], m["channel"]) == (PHONE, "WHATSAPP")
        assert await backend.contact(NIK) == OnFile(PHONE, False, None)

    async def test_a_number_that_said_stop_gets_its_message_skipped(self, backend: Backend) -> None:
        await backend.given_opt_out(PHONE)
        await self.deliver(backend, [deactivation()])
        [m] = await backend.messages()
        assert m["state"] == "SKIPPED"

    async def test_an_erased_persons_later_deactivation_brings_no_number_back(self, backend: Backend) -> None:
        await backend.given_contact(NIK, OnFile(None))
        await backend.given_erasure(NIK, NOON - dt.timedelta(days=2))
        event = deactivation()
        await self.deliver(backend, [event])
        assert await backend.messages() == []
        assert await backend.contact(NIK) == OnFile(None)
        assert await backend.inbox() == {event.event_id}  # nothing keyed by a message: the inbox

    async def test_a_redelivered_request_does_not_reopen_its_decided_request(self, backend: Backend) -> None:
        asked = request()
        rejected = decision(asked, Outcome.REJECTED)
        await self.deliver(backend, [deactivation(), asked], [rejected], [asked])
        standing = await backend.standing(NIK)
        assert standing is not None and not standing.request_open
        assert sorted(m["kind"] for m in await backend.messages()) == ["deactivated", "received", "rejected"]
        assert await backend.inbox() == set()  # each de-duplicated by its message's id (event id and kind)

    async def test_a_redelivered_decision_is_not_folded_again_over_a_later_request(self, backend: Backend) -> None:
        first = request()
        pending = decision(first, Outcome.PENDING)
        second = request()
        await self.deliver(backend, [deactivation()], [first], [pending], [second], [pending])
        standing = await backend.standing(NIK)
        assert standing is not None and standing.request_open
        assert standing.request_ids[0] == second.request_id.hex  # the redelivery did not put the first back

    async def test_a_fact_about_someone_not_held_adds_nobody(self, backend: Backend) -> None:
        await self.deliver(backend, [biometric("3674015708900002")])
        assert await backend.standing("3674015708900002") is None
        assert await backend.contact("3674015708900002") is None

    async def test_quiet_hours_hold_a_notice_but_not_an_emergency(self, backend: Backend) -> None:
        await self.deliver(backend, [deactivation(), request(ReactivationPath.EMERGENCY)], now=NIGHT)
        held = {m["kind"]: m["send_after"] for m in await backend.messages()}
        assert held == {"deactivated": dt.datetime(2026, 11, 25, 0, tzinfo=dt.UTC), "received": NIGHT}

    async def test_an_sla_warning_escalates_once_to_the_on_call_contact(self, backend: Backend) -> None:
        emergency = request(ReactivationPath.EMERGENCY)
        warning, ok = sla(emergency, SlaState.WARNING), sla(emergency, SlaState.OK)
        await self.deliver(backend, [emergency, ok, warning], [warning], escalate=True)
        escalations = [m for m in await backend.messages() if m["kind"].startswith("escalation_")]
        assert [(m["kind"], m["phone"], m["urgent"]) for m in escalations] == [("escalation_warning", ON_CALL, True)]
        assert warning.event_id not in await backend.inbox()  # its row's key de-duplicates it
        assert ok.event_id in await backend.inbox()

    async def test_a_decision_before_its_deactivation_waits_for_the_number_and_goes_to_it_once_filed(
        self, backend: Backend
    ) -> None:
        approved = decision(request(), Outcome.APPROVED)
        await self.deliver(backend, [approved])
        [waiting] = await backend.messages()
        assert (waiting["kind"], waiting["state"], waiting["phone"]) == ("approved", "WAITING", "")
        await self.deliver(backend, [deactivation()], [approved])  # the deactivation, then a redelivery
        messages = {m["kind"]: m for m in await backend.messages()}
        assert sorted(messages) == ["approved", "deactivated"]
        told = messages["approved"]
        assert (told["state"], told["phone"], told["channel"], told["send_after"]) == (
            "QUEUED",
            PHONE,
            "WHATSAPP",
            NOON,
        )
        assert told["message_id"] == waiting["message_id"] and "3674********0001" in told["text"]

    async def test_a_waiting_message_released_at_night_waits_for_seven(self, backend: Backend) -> None:
        await self.deliver(backend, [decision(request(), Outcome.REJECTED)])
        await self.deliver(backend, [deactivation()], now=NIGHT)
        assert {m["state"] for m in await backend.messages()} == {"QUEUED"}
        assert {m["send_after"] for m in await backend.messages()} == {dt.datetime(2026, 11, 25, 0, tzinfo=dt.UTC)}

    async def test_a_waiting_message_to_a_number_that_said_stop_is_skipped(self, backend: Backend) -> None:
        await backend.given_opt_out(PHONE)
        await self.deliver(backend, [decision(request(), Outcome.APPROVED)], [deactivation()])
        assert {m["kind"]: m["state"] for m in await backend.messages()} == {
            "approved": "SKIPPED",
            "deactivated": "SKIPPED",
        }

    async def test_a_waiting_message_is_closed_when_the_deactivation_brings_no_number(self, backend: Backend) -> None:
        await self.deliver(backend, [decision(request(), Outcome.APPROVED)], [deactivation(phone=None)])
        [closed] = await backend.messages()
        assert (closed["kind"], closed["state"], closed["phone"]) == ("approved", "SKIPPED", "")
        assert "no number" in closed["last_error"]

    async def test_a_decision_after_a_deactivation_without_a_number_tells_nobody(self, backend: Backend) -> None:
        await self.deliver(backend, [deactivation(phone=None)], [decision(request(), Outcome.APPROVED)])
        assert await backend.messages() == []

    async def test_an_erased_persons_decision_waits_for_no_number(self, backend: Backend) -> None:
        await backend.given_erasure(NIK, NOON - dt.timedelta(days=2))
        await self.deliver(backend, [decision(request(), Outcome.APPROVED)])
        assert await backend.messages() == []

    async def test_a_number_filed_beside_the_waiting_batch_is_used_by_the_senders_pass(self, backend: Backend) -> None:
        await self.deliver(backend, [decision(request(), Outcome.APPROVED)])
        assert await release_numbered(backend.uow(), NOON) == 0  # no number yet: it keeps waiting
        # The deactivation's batch filed the number while the decision's was still open: it saw no WAITING row.
        await backend.given_contact(NIK, OnFile(PHONE, on_whatsapp=False))
        assert await release_numbered(backend.uow(), NOON) == 1
        [m] = await backend.messages()
        assert (m["state"], m["phone"], m["channel"]) == ("QUEUED", PHONE, "SMS")
        assert await release_numbered(backend.uow(), NOON) == 0

    async def test_a_batch_that_fails_after_its_writes_leaves_nothing_and_is_applied_when_redelivered(
        self, backend: Backend
    ) -> None:
        def failing() -> UnitOfWork:
            return FailsAtTheEnd(backend.uow())  # type: ignore[return-value]  # enters as the inner one

        event = deactivation()
        broken = NotifierHandlers(None, lambda: NOON, lambda: None, uow=failing)
        with pytest.raises(RuntimeError):
            await broken.on_events([event, deactivation(phone=None, nik="3674015708900002")])
        assert await backend.messages() == [] and await backend.inbox() == set()
        assert await backend.contact(NIK) is None and await backend.standing(NIK) is None
        await self.deliver(backend, [event])
        assert len(await backend.messages()) == 1


class FailsAtTheEnd:
    """A unit of work whose last write fails (a dropped connection): everything before it must go too."""

    def __init__(self, inner: UnitOfWork) -> None:
        self.inner = inner

    async def __aenter__(self) -> UnitOfWork:
        uow = await self.inner.__aenter__()

        async def update(people: object) -> None:
            raise RuntimeError("connection dropped")

        uow.people.update = update  # type: ignore[method-assign,assignment]
        return uow

    async def __aexit__(self, *exc: Any) -> None:
        await self.inner.__aexit__(*exc)

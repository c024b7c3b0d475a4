"""Intake's read-model handler cases, run against both units of work: in memory
(tests/unit/intake/test_read_model_uow.py) and on PostgreSQL (tests/integration/test_intake_read_model_uow_pg.py).
A test class there subclasses `ReadModelCases` and gives the `backend` fixture."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol

import pytest

from services.intake.handlers import ReadModel
from services.intake.uow import ReadModelUnitOfWork
from services.intake.uow_memory import AppealState, RequestState
from shared.enums import AppealStatus, Channel, DecisionReason, Outcome, ReactivationPath, SlaState
from shared.events import AppealUpdated, EmergencySlaChanged, ReactivationDecided, WindowReminderDue

NIK = "3674015708900001"
T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)


class Backend(Protocol):
    def uow(self) -> ReadModelUnitOfWork: ...
    async def given_request(self, request_id: uuid.UUID, sla_state: str | None = None) -> None: ...
    async def request(self, request_id: uuid.UUID) -> RequestState | None: ...
    async def appeal(self, appeal_id: uuid.UUID) -> AppealState | None: ...
    async def version(self, request_id: uuid.UUID) -> object: ...  # changes with every write of the row
    async def inbox_rows(self) -> int: ...  # intake.processed_events: written no more


def decided(request_id: uuid.UUID, outcome: Outcome, minutes: int, *reasons: DecisionReason) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=T0 + dt.timedelta(minutes=minutes),
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid4(),
        request_id=request_id,
        path=ReactivationPath.EMERGENCY,
        channel=Channel.HOSPITAL,
        outcome=outcome,
        reasons=list(reasons),
        policy_version="test",
        received_at=T0,
        decided_at=T0 + dt.timedelta(minutes=minutes),
        sla_deadline=T0 + dt.timedelta(hours=24),
    )


def sla(request_id: uuid.UUID, state: SlaState, minutes: int = 0) -> EmergencySlaChanged:
    return EmergencySlaChanged(
        occurred_at=T0 + dt.timedelta(minutes=minutes),
        source="eligibility",
        nik=NIK,
        request_id=request_id,
        sla_state=state,
        sla_deadline=T0 + dt.timedelta(hours=24),
        received_at=T0,
    )


def appeal_update(
    appeal_id: uuid.UUID, request_id: uuid.UUID | None, status: AppealStatus, minutes: int, *reasons: str
) -> AppealUpdated:
    return AppealUpdated(
        occurred_at=T0 + dt.timedelta(minutes=minutes),
        source="eligibility",
        nik=NIK,
        appeal_id=appeal_id,
        request_id=request_id,
        status=status,
        reasons=list(reasons),
        channel=Channel.WHATSAPP,
        received_at=T0,
    )


class ReadModelCases:
    """Subclasses give a `backend` fixture (a fresh, empty store per test)."""

    async def deliver(self, backend: Backend, *batches: list[Any]) -> None:
        model = ReadModel(None, uow=backend.uow)
        for batch in batches:
            await model.on_events(batch)

    async def test_a_decision_is_shown_and_its_redelivery_changes_and_writes_nothing(self, backend: Backend) -> None:
        rid = uuid.uuid4()
        await backend.given_request(rid, "OK")
        pending = decided(rid, Outcome.PENDING, 1, DecisionReason.BIOMETRIC_MISSING)
        await self.deliver(backend, [pending])
        shown = RequestState("PENDING", ("BIOMETRIC_MISSING",), pending.decided_at, pending.occurred_at, "OK")
        assert await backend.request(rid) == shown
        version = await backend.version(rid)
        await self.deliver(backend, [pending], [pending, pending])  # redelivered, and twice in one batch
        assert await backend.request(rid) == shown
        assert await backend.version(rid) == version  # not even an update of the same values
        assert await backend.inbox_rows() == 0  # the row's own guard de-duplicates: no bookkeeping row

    async def test_decisions_redelivered_after_a_later_one_change_and_write_nothing(self, backend: Backend) -> None:
        rid = uuid.uuid4()
        await backend.given_request(rid, "OK")
        pending = decided(rid, Outcome.PENDING, 1, DecisionReason.BIOMETRIC_MISSING)
        approved = decided(rid, Outcome.APPROVED, 5)
        met = sla(rid, SlaState.MET, 5)
        await self.deliver(backend, [pending, approved, met])
        shown, version = await backend.request(rid), await backend.version(rid)
        assert shown == RequestState("APPROVED", (), approved.decided_at, approved.occurred_at, "MET")
        await self.deliver(backend, [pending], [pending, approved, met], [approved], [met])
        assert await backend.request(rid) == shown
        assert await backend.version(rid) == version

    async def test_a_different_decision_as_new_as_the_one_shown_still_applies(self, backend: Backend) -> None:
        """Two decisions stamped alike (one eligibility clock reading): the later delivered is shown, as when
        the inbox let it through; only the one already shown is the same again."""
        rid = uuid.uuid4()
        await backend.given_request(rid)
        first = decided(rid, Outcome.PENDING, 1, DecisionReason.BIOMETRIC_MISSING)
        second = decided(rid, Outcome.PENDING, 1, DecisionReason.DESIL_UNKNOWN)
        await self.deliver(backend, [first], [second])
        shown = await backend.request(rid)
        assert shown is not None and shown.reasons == ("DESIL_UNKNOWN",)

    async def test_a_pending_never_reopens_a_decided_request_and_an_older_final_decision_loses(
        self, backend: Backend
    ) -> None:
        rid = uuid.uuid4()
        await backend.given_request(rid)
        approved = decided(rid, Outcome.APPROVED, 5)
        await self.deliver(
            backend,
            [approved],
            [decided(rid, Outcome.PENDING, 9, DecisionReason.DESIL_UNKNOWN)],
            [decided(rid, Outcome.REJECTED, 3, DecisionReason.DESIL_ABOVE_5)],
        )
        shown = await backend.request(rid)
        assert shown is not None and (shown.status, shown.reasons, shown.last_event_at) == (
            "APPROVED",
            (),
            approved.occurred_at,
        )

    async def test_decisions_of_one_request_in_one_batch_apply_in_order(self, backend: Backend) -> None:
        rid, other = uuid.uuid4(), uuid.uuid4()
        await backend.given_request(rid)
        await backend.given_request(other)
        batch = [
            decided(rid, Outcome.PENDING, 1, DecisionReason.BIOMETRIC_MISSING),
            decided(other, Outcome.REJECTED, 1, DecisionReason.DESIL_ABOVE_5),
            decided(rid, Outcome.APPROVED, 2),
            decided(rid, Outcome.PENDING, 3, DecisionReason.DESIL_UNKNOWN),  # never reopens
        ]
        await self.deliver(backend, batch)
        assert [(s.status if s else None) for s in [await backend.request(rid), await backend.request(other)]] == [
            "APPROVED",
            "REJECTED",
        ]

    async def test_the_sla_only_moves_forward_and_an_approval_after_the_deadline_is_breached(
        self, backend: Backend
    ) -> None:
        rid, late = uuid.uuid4(), uuid.uuid4()
        await backend.given_request(rid, "OK")
        await backend.given_request(late, "OK")
        over = decided(late, Outcome.APPROVED, 25 * 60)  # past the 24 h deadline
        await self.deliver(backend, [sla(rid, SlaState.WARNING), sla(rid, SlaState.OK, 1)], [over])
        assert [s.sla_state if s else None for s in [await backend.request(rid), await backend.request(late)]] == [
            "WARNING",
            "BREACHED",
        ]

    async def test_an_event_for_a_request_intake_never_stored_or_not_for_the_read_model_changes_nothing(
        self, backend: Backend
    ) -> None:
        rid = uuid.uuid4()
        reminder = WindowReminderDue(
            occurred_at=T0, source="eligibility", nik=NIK, window_closes_at=T0 + dt.timedelta(days=30), days_left=30
        )
        await self.deliver(backend, [decided(rid, Outcome.APPROVED, 1), sla(rid, SlaState.MET), reminder])
        assert await backend.request(rid) is None
        assert await backend.inbox_rows() == 0

    async def test_appeals_a_whatsapp_one_gets_its_row_a_refused_unknown_one_none_and_older_updates_lose(
        self, backend: Backend
    ) -> None:
        rid, aid, refused = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        opened = appeal_update(aid, rid, AppealStatus.OPEN, 1)
        dismissed = appeal_update(aid, rid, AppealStatus.DISMISSED, 9, "DESIL_ABOVE_5")
        await self.deliver(
            backend,
            [opened, dismissed],
            [opened.model_copy(update={"event_id": uuid.uuid4()})],  # an older update, under a new id
            [dismissed, opened],  # redelivered: the one shown, then an older one
            [appeal_update(refused, None, AppealStatus.REFUSED, 2, "UNKNOWN_REQUEST")],
        )
        shown = await backend.appeal(aid)
        assert shown is not None and (shown.request_id, shown.status, shown.reasons) == (
            rid,
            "DISMISSED",
            ("DESIL_ABOVE_5",),
        )
        assert await backend.appeal(refused) is None

    async def test_a_batch_that_fails_leaves_nothing_and_is_applied_when_redelivered(self, backend: Backend) -> None:
        rid = uuid.uuid4()
        await backend.given_request(rid)
        event = decided(rid, Outcome.APPROVED, 1)

        def failing() -> ReadModelUnitOfWork:
            return FailsAtTheEnd(backend.uow())  # type: ignore[return-value]  # enters as the inner one

        with pytest.raises(RuntimeError):
            await ReadModel(None, uow=failing).on_events([event])
        shown = await backend.request(rid)
        assert shown is not None and shown.status == "RECEIVED"
        await self.deliver(backend, [event])
        shown = await backend.request(rid)
        assert shown is not None and shown.status == "APPROVED"


class FailsAtTheEnd:
    """A unit of work that fails after applying its changes (a dropped connection before the commit)."""

    def __init__(self, inner: ReadModelUnitOfWork) -> None:
        self.inner = inner

    async def __aenter__(self) -> ReadModelUnitOfWork:
        uow = await self.inner.__aenter__()
        applying = uow.apply

        async def apply(changes: Any) -> None:
            await applying(changes)
            raise RuntimeError("connection dropped")

        uow.apply = apply  # type: ignore[method-assign]
        return uow

    async def __aexit__(self, *exc: Any) -> None:
        await self.inner.__aexit__(*exc)

"""pbi_registry_events_applied_total (handlers.first_applications): each event once, summed over the
registry's processes, whatever the retries, the redeliveries and the two roles that apply an emergency's
decision (bench/run.py waits on that sum for the wave and the decisions). The unit of work in memory looks
every event up; `AsPostgres` looks up only the events of the people it locked, as PgUnitOfWork.unseen does
(a wave's new people cost no look-up), which is where an event about nobody on record was counted again."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import pytest
from prometheus_client import REGISTRY

from services.registry.domain.status import Participant
from services.registry.handlers import RegistryHandlers
from services.registry.uow import ConcurrentBatch
from services.registry.uow_memory import MemoryStore, MemoryUnitOfWork
from shared.events import Event, ParticipantStatusChanged, WindowReminderDue
from tests.unit.registry.handler_cases import DAY, NIK, NIK2, PREFIX, T0, H, deactivated, decided, notified, requested


class AsPostgres(MemoryUnitOfWork):
    """PgUnitOfWork.unseen's look-up: only the events of the people this unit locked."""

    locked: set[str]

    async def lock_people(self, niks: Iterable[str]) -> dict[str, Participant | None]:
        people = await super().lock_people(niks)
        self.locked = set(people)
        return people

    async def unseen(self, events: Sequence[Event]) -> list[Event]:
        kept = {id(e) for e in await super().unseen([e for e in events if e.nik in self.locked])}
        return [e for e in events if e.nik not in self.locked or id(e) in kept]


class Registry:
    """The registry's processes on one store: `urgent` and `bulk` (two handlers, as the two roles)."""

    def __init__(self, unit: type[MemoryUnitOfWork]) -> None:
        self.store, self.unit, self.fail_saves = MemoryStore(), unit, 0
        self.urgent, self.bulk = self.handlers(), self.handlers()

    def handlers(self) -> RegistryHandlers:
        return RegistryHandlers(None, PREFIX, lambda: None, clock=lambda: T0 + DAY, uow=self.uow)

    def uow(self) -> MemoryUnitOfWork:
        unit = self.unit(self.store, PREFIX)
        if self.fail_saves:  # another transaction inserted a person of this batch meanwhile
            self.fail_saves -= 1

            async def save(_changes: object) -> int:
                raise ConcurrentBatch("a person of this batch was created by another transaction meanwhile")

            unit.save = save  # type: ignore[method-assign, assignment]
        return unit


@pytest.fixture(params=[MemoryUnitOfWork, AsPostgres], ids=["memory", "as-postgres"])
def registry(request: pytest.FixtureRequest) -> Registry:
    return Registry(request.param)


def applied(kind: str) -> float:
    return REGISTRY.get_sample_value("pbi_registry_events_applied_total", {"type": kind}) or 0.0


class Counted:
    """The counter's increase per type over a block."""

    KINDS = (
        "participant.deactivated",
        "reactivation.decided",
        "reactivation.requested",
        "notification.updated",
        "participant.window_reminder_due",
        "participant.status_changed",
    )

    def __enter__(self) -> dict[str, float]:
        self.before = {k: applied(k) for k in self.KINDS}
        self.delta: dict[str, float] = {}
        return self.delta

    def __exit__(self, *exc: object) -> None:
        self.delta.update({k: applied(k) - v for k, v in self.before.items() if applied(k) != v})


async def test_a_wave_counts_once_however_often_it_is_delivered(registry: Registry) -> None:
    wave = [deactivated(), deactivated(nik=NIK2)]
    again = deactivated(at=T0 + H, source="BPJS")  # the same deactivation from another source: remembered
    with Counted() as counted:
        await registry.bulk.on_events([*wave, wave[0]])
        await registry.bulk.on_events(wave)  # redelivered
        await registry.bulk.on_events([again])
        await registry.bulk.on_events([again])
    assert counted == {"participant.deactivated": 3}


async def test_a_batch_applied_again_after_a_concurrent_insert_counts_once(registry: Registry) -> None:
    registry.fail_saves = 2
    with Counted() as counted:
        await registry.bulk.on_events([deactivated(), deactivated(nik=NIK2)])
    assert counted == {"participant.deactivated": 2}


async def test_an_emergencys_decision_applied_by_both_roles_counts_once(registry: Registry) -> None:
    await registry.bulk.on_events([deactivated()])
    approved = decided(uuid.uuid4(), "APPROVED", T0 + 2 * H, path="EMERGENCY")
    unknown = decided(uuid.uuid4(), "APPROVED", T0 + 2 * H, path="EMERGENCY", nik=NIK2)  # creates the person
    with Counted() as counted:
        await registry.urgent.on_events([approved, unknown])  # pbi.emergency-decisions.v1
        await registry.bulk.on_events([approved, unknown])  # pbi.decisions.v1
        await registry.bulk.on_events([unknown, approved])  # redelivered
    assert counted == {"reactivation.decided": 2}


async def test_a_decision_for_nobody_on_record_is_applied_to_no_one_in_either_role(registry: Registry) -> None:
    # NOT_DEACTIVATED: nobody to mirror, nothing written but the inbox's memory of it. No person's row to lock,
    # so PostgreSQL does not look it up: each delivery, in each role, applied it again, and counted it (3 here).
    nobody = decided(uuid.uuid4(), "PENDING", T0 + H, path="EMERGENCY", reasons=["NOT_DEACTIVATED"])
    with Counted() as counted:
        await registry.urgent.on_events([nobody])
        await registry.bulk.on_events([nobody])
        await registry.bulk.on_events([nobody])  # redelivered
    assert counted == {}
    assert registry.store.people == {} and registry.store.inbox == {nobody.event_id}


async def test_reminders_and_status_changes_the_registry_ignores_are_not_applied(registry: Registry) -> None:
    await registry.bulk.on_events([deactivated()])
    reminder = WindowReminderDue(occurred_at=T0 + H, source="eligibility", nik=NIK, window_closes_at=T0, days_left=7)
    change = ParticipantStatusChanged(
        occurred_at=T0,
        source="registry",
        nik=NIK,
        previous_status=None,
        status="INACTIVE",  # type: ignore[arg-type]
        cause_event_id=uuid.uuid4(),
        cause_type="participant.deactivated",
    )
    with Counted() as counted:
        await registry.urgent.on_events([reminder, reminder])  # alone: no transaction
        await registry.bulk.on_events([change, deactivated(nik=NIK2)])  # beside an event applied
    assert counted == {"participant.deactivated": 1}


async def test_requests_and_message_states_count_at_each_delivery(registry: Registry) -> None:
    # They keep no record (domain.batch.APPLIED_AGAIN): a redelivery is applied again and counted again; a
    # request whose decision came first writes nothing, and still counts (bench/registry.py waits for each).
    rid, mid = uuid.uuid4(), uuid.uuid4()
    await registry.bulk.on_events([deactivated()])
    await registry.bulk.on_events([decided(rid, "PENDING", T0 + 2 * H, reasons=["BIOMETRIC_MISSING"])])
    with Counted() as counted:
        await registry.bulk.on_events([requested(rid)])
        await registry.bulk.on_events([notified(mid, "SENT", T0 + 3 * H), notified(mid, "DELIVERED", T0 + 4 * H)])
    assert counted == {"reactivation.requested": 1, "notification.updated": 2}
    assert registry.store.requests[rid]["status"] == "PENDING"

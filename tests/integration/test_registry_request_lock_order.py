"""The registry takes a batch's request rows in request id order (services/registry/uow.py
`PgUnitOfWork._requests`): a decision batch (its people locked) and a batch of SLA states (people only read)
writing the same emergencies' rows in crossing orders deadlocked (retried, as a transient error). Both
batches go through the handler on PostgreSQL, the first held by hand between two statements."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry.handlers import RegistryHandlers
from services.registry.store import MIGRATIONS, SCHEMA
from services.registry.uow import PgUnitOfWork
from shared.db import make_sessions
from shared.events import Event
from testkit.engines import migrated_engine
from testkit.events import T0, H, deactivated, decided, emergency, sla_changed
from testkit.locks import Pause, crossing, free_while_waiting

PREFIX = "t."
NIKS = ("3674015708900001", "3674015708900002")
REQUESTS = f"{SCHEMA}.requests"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


def handlers(engine: AsyncEngine, pause: Pause | None = None) -> RegistryHandlers:
    """The registry's handlers; with `pause`, a batch's transaction stops after its first statement on the
    request rows."""
    sessions = make_sessions(engine)
    unit = (lambda: pause.unit(PgUnitOfWork(sessions, PREFIX))) if pause else None
    # PgUnitOfWork's __aexit__ spells its arguments out: the protocol's `*exc` (as handlers.py's default)
    return RegistryHandlers(sessions, PREFIX, lambda: None, clock=lambda: T0 + 2 * H, uow=unit)  # type: ignore[arg-type]


async def two_emergencies(engine: AsyncEngine) -> tuple[uuid.UUID, uuid.UUID]:
    """Two people's emergencies, committed: their request ids, the lower first."""
    low, high = sorted([uuid.uuid4(), uuid.uuid4()], key=lambda u: u.int)
    asked = [emergency(nik).model_copy(update={"request_id": rid}) for nik, rid in zip(NIKS, (low, high), strict=True)]
    await handlers(engine).on_events([deactivated(NIKS[0]), deactivated(NIKS[1]), *asked])
    return low, high


async def requests(engine: AsyncEngine) -> dict[uuid.UUID, tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"select request_id, status, sla_state from {REQUESTS}"))
        return {r.request_id: (r.status, r.sla_state) for r in rows}


async def test_a_decision_batch_and_an_sla_batch_crossing_on_the_same_rows_both_commit(engine: AsyncEngine) -> None:
    low, high = await two_emergencies(engine)
    # The decisions: the higher request's PENDING (a decision alone) and the lower's approval (a decision with
    # the MET it settles), two statements: written in that order, the higher row is locked before the lower.
    decisions: list[Event] = [
        decided(NIKS[1], high, "PENDING", T0 + 2 * H),
        decided(NIKS[0], low, "APPROVED", T0 + 2 * H),
    ]
    # The SLA states of both, one statement, the lower row first.
    states: list[Event] = [sla_changed(NIKS[0], low, "WARNING"), sla_changed(NIKS[1], high, "WARNING")]
    pause = Pause(REQUESTS)  # the decision batch holds its first request rows, the SLA batch waits for one
    ended = await crossing(
        engine, pause, handlers(engine, pause).on_events(decisions), handlers(engine).on_events(states)
    )
    assert ended == [None, None]  # without the order: one of them `deadlock detected`
    # The approval's MET stays (WARNING is behind it); the PENDING one is WARNING.
    assert await requests(engine) == {low: ("APPROVED", "MET"), high: ("PENDING", "WARNING")}


async def test_one_upsert_takes_its_rows_in_request_id_order(engine: AsyncEngine) -> None:
    low, high = await two_emergencies(engine)
    # The higher first.
    states: list[Event] = [sla_changed(NIKS[1], high, "WARNING"), sla_changed(NIKS[0], low, "WARNING")]
    # Waiting for the lower row (another batch holds it), the batch holds no other: the higher one is free.
    batch = handlers(engine).on_events(states)
    assert await free_while_waiting(engine, REQUESTS, "request_id", held=low, free=high, batch=batch)
    assert await requests(engine) == {low: ("RECEIVED", "WARNING"), high: ("RECEIVED", "WARNING")}

"""An erasure applied while a batch writes a person's first facts (shared.privacy, erasure_gate), on
PostgreSQL, with the two transactions interleaved by hand: the batch reads the markers (none yet), then
the erasure runs in its own transaction, then the batch writes and commits. A person with no row has
nothing to lock: unless something makes the two take turns, the number stays after the erasure.

The erasure runs under a short `lock_timeout`: when it has to wait for the batch (which is suspended
until it returns, so it always would), it gives up, which proves the wait, and is run again once the
batch has committed, as the real one would go on once the batch commits. Either way, no number may
be left."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Self

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import make_sessions, migrate, transaction
from shared.events import PersonalDataErased

Erase = Callable[[AsyncEngine], Awaitable[None]]


def erasure(nik: str) -> PersonalDataErased:
    now = dt.datetime.now(dt.UTC)
    return PersonalDataErased(event_id=uuid.uuid4(), occurred_at=now, source="registry", nik=nik, requested_by="t")


class Interleaving:
    """The erasure, run once between the batch's read of the markers and its writes."""

    def __init__(self, engine: AsyncEngine, impatient: AsyncEngine, erase: Erase) -> None:
        self.engine, self.impatient, self.erase = engine, impatient, erase
        self.ran, self.waited = False, False

    async def between(self) -> None:
        if self.ran:  # a batch run again (a new person's race) meets the erasure already done
            return
        self.ran = True
        try:
            await self.erase(self.impatient)
        except DBAPIError as exc:
            assert "lock timeout" in str(exc.orig), exc
            self.waited = True

    async def after_the_batch(self) -> None:
        if self.waited:
            await self.erase(self.engine)


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    engine = create_async_engine(database_url)
    impatient = create_async_engine(database_url, connect_args={"server_settings": {"lock_timeout": "200ms"}})
    yield engine, impatient
    await impatient.dispose()
    await engine.dispose()


async def test_registry_an_erasure_during_a_new_persons_first_batch_leaves_no_number(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    from services.registry import privacy
    from services.registry.handlers import RegistryHandlers
    from services.registry.store import MIGRATIONS, SCHEMA, P
    from services.registry.uow import PgUnitOfWork
    from tests.unit.registry.handler_cases import NIK, PREFIX, T0, deactivated

    engine, impatient = engines
    await migrate(engine, MIGRATIONS, SCHEMA)

    async def erase(on: AsyncEngine) -> None:
        async with transaction(make_sessions(on)) as session:
            await privacy.erase(session, NIK, "t", dt.datetime.now(dt.UTC), PREFIX)

    interleaving = Interleaving(engine, impatient, erase)

    class ErasedMeanwhile(PgUnitOfWork):
        async def erased(self, niks: Any) -> dict[str, dt.datetime]:
            found = await super().erased(niks)
            await interleaving.between()
            return found

    sessions = make_sessions(engine)
    handlers = RegistryHandlers(
        sessions, PREFIX, lambda: None, clock=lambda: T0, uow=lambda: ErasedMeanwhile(sessions, PREFIX)
    )
    await handlers.on_events([deactivated(phone="+6281234567890")])
    await interleaving.after_the_batch()

    async with engine.connect() as conn:
        assert (await conn.execute(select(P.c.nik, P.c.phone))).all() == [(NIK, None)]
    assert interleaving.waited  # for the batch, at the erasure gate


async def test_notifier_an_erasure_during_a_new_persons_first_batch_leaves_no_number(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    from services.notifier.handlers import NotifierHandlers
    from services.notifier.privacy import PrivacyHandlers
    from services.notifier.store import MIGRATIONS, SCHEMA, C, M
    from services.notifier.uow import PgUnitOfWork
    from tests.unit.notifier.handler_cases import NIK, NOON, PHONE, deactivation

    engine, impatient = engines
    await migrate(engine, MIGRATIONS, SCHEMA)

    async def erase(on: AsyncEngine) -> None:
        await PrivacyHandlers(make_sessions(on)).on_erasures([erasure(NIK)])

    interleaving = Interleaving(engine, impatient, erase)

    class ErasedMeanwhile(PgUnitOfWork):
        async def __aenter__(self) -> Self:
            uow = await super().__aenter__()
            among = uow.erasures.among

            async def erased(niks: Any) -> dict[str, dt.datetime]:
                found = await among(niks)
                await interleaving.between()
                return found

            uow.erasures.among = erased  # type: ignore[method-assign]
            return uow

    sessions = make_sessions(engine)
    handlers = NotifierHandlers(None, lambda: NOON, lambda: None, uow=lambda: ErasedMeanwhile(sessions))
    await handlers.on_events([deactivation()])
    await interleaving.after_the_batch()

    async with engine.connect() as conn:
        assert (await conn.execute(select(C.c.nik, C.c.phone))).all() == [(NIK, None)]
        messages = (await conn.execute(select(M.c.phone, M.c.text))).all()
    assert not any(PHONE[3:] in f"{phone} {text}" for phone, text in messages)
    assert interleaving.waited  # for the batch, at the erasure gate


async def test_eligibility_an_erasure_during_a_new_persons_first_facts_leaves_no_number(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    """Eligibility's erasure creates the person's empty row (lock_people), which the facts batch's insert
    of a new person meets: the batch is decided again under the lock and reads the marker."""
    from services.eligibility.handlers import EligibilityHandlers
    from services.eligibility.privacy import PrivacyHandlers
    from services.eligibility.store import MIGRATIONS, SCHEMA, F, PgUnitOfWork
    from tests.unit.eligibility.handler_cases import NIK, POLICY, T0, deactivated

    engine, impatient = engines
    await migrate(engine, MIGRATIONS, SCHEMA)

    async def erase(on: AsyncEngine) -> None:
        sessions = make_sessions(on)
        await PrivacyHandlers(None, uow=lambda: PgUnitOfWork(sessions)).on_erasures([erasure(NIK)])

    interleaving = Interleaving(engine, impatient, erase)

    class ErasedMeanwhile(PgUnitOfWork):
        async def erased_among(self, niks: set[str]) -> dict[str, dt.datetime]:
            found = await super().erased_among(niks)
            await interleaving.between()
            return found

    sessions = make_sessions(engine)
    handlers = EligibilityHandlers(None, POLICY, lambda: T0, "t.", lambda: None, uow=lambda: ErasedMeanwhile(sessions))
    await handlers.on_participant_events([deactivated()])
    await interleaving.after_the_batch()

    async with engine.connect() as conn:
        assert (await conn.execute(select(F.c.nik, F.c.phone))).all() == [(NIK, None)]

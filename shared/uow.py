"""The transaction scaffolding of the services' units of work, written once: `SessionUnit` is one
PostgreSQL transaction as `async with` (each service's PgUnitOfWork), `CopyUnit` its in-memory twin over a
dataclass store (each MemoryUnitOfWork, for the handler cases run against both backends). Either commits
when the block ends without an error and rolls back otherwise; a subclass sets up what it reads and writes
through in `_opened`."""

from __future__ import annotations

import copy
from types import TracebackType
from typing import Generic, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.claims import claim_unseen
from shared.events import Event
from shared.privacy import erasure_gate

S = TypeVar("S")
E = TypeVar("E", bound=Event)


class SessionUnit:
    """A session of `sessions` with its transaction begun on entry; committed when the block ends without
    an error, else rolled back; the session closed either way."""

    session: AsyncSession
    # The schema whose erasure gate each transaction takes shared, first thing (shared.privacy.erasure_gate):
    # set by a unit of work whose batches can file a new person's number.
    gated_schema: str | None = None

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    def _opened(self) -> None:
        """Called once the transaction is begun: set up what works on `self.session`."""

    async def __aenter__(self) -> Self:
        self.session = self.sessions()
        try:
            await self.session.begin()
            if self.gated_schema:
                await erasure_gate(self.session, self.gated_schema, exclusive=False)
            self._opened()
        except BaseException:
            await self.session.close()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()


class CopyUnit(Generic[S]):
    """A block works on `self.work`, a copy of the dataclass `store`, whose fields become the store's when
    the block ends without an error: a failed block leaves nothing behind, as a rolled-back transaction."""

    work: S

    def __init__(self, store: S) -> None:
        self.store = store

    def _copy(self, store: S) -> S:
        """The working copy (deep by default; a subclass may copy only what its blocks change)."""
        return copy.deepcopy(store)

    def _opened(self) -> None:
        """Called once `self.work` is made: set up what works on it."""

    async def __aenter__(self) -> Self:
        self.work = self._copy(self.store)
        self._opened()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:  # commit
            vars(self.store).update(vars(self.work))


# The in-memory inbox's claim (shared.inbox.claim_events' twin) is the pure rule of shared.claims.
claim_in_memory = claim_unseen

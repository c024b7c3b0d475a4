"""Two transactions interleaved by hand, for the lock-order tests: a unit of work's session that stops its
transaction after its first statement on a table until the test lets it go on, who waits for a row lock, and
whether a row's lock is free; the two interleavings those tests run (`crossing`, `free_while_waiting`).
Conditions waited for, never sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.uow import SessionUnit
from testkit.polling import eventually

U = TypeVar("U", bound=SessionUnit)


@dataclass
class Pause:
    """Stops a transaction once its first statement naming `table` (e.g. "registry.requests") has run."""

    table: str
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    go_on: asyncio.Event = field(default_factory=asyncio.Event)

    def session(self, session: AsyncSession) -> AsyncSession:
        """`session`, pausing as said."""
        return cast(AsyncSession, _PausingSession(session, self))

    def unit(self, unit: U) -> U:
        """`unit`, its transaction pausing as said: once begun (after the unit's own `_opened`), its
        session is one that pauses."""
        opened = unit._opened

        def _opened() -> None:
            opened()
            unit.session = self.session(unit.session)

        unit._opened = _opened  # type: ignore[method-assign]
        return unit

    async def reached(self, task: asyncio.Task[Any], timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Returns once the transaction is paused; fails with the task's error if it ended first."""
        paused = asyncio.ensure_future(self.paused.wait())
        try:
            await asyncio.wait([task, paused], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            paused.cancel()
        if not self.paused.is_set():
            raise AssertionError(
                f"never paused at {self.table}: {task.exception() if task.done() else 'still running'}"
            )


class _PausingSession:
    def __init__(self, session: AsyncSession, pause: Pause) -> None:
        self._session, self._pause = session, pause

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = await self._session.execute(statement, *args, **kwargs)
        if not self._pause.paused.is_set() and self._pause.table in str(statement):
            self._pause.paused.set()
            await self._pause.go_on.wait()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


async def waiting_for_a_lock(engine: AsyncEngine) -> list[int]:
    """The backends of the engine's database waiting for a lock (a transaction of its own each time:
    pg_stat_activity is read once per transaction)."""
    query = "select pid from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"
    async with engine.connect() as conn:
        return list((await conn.execute(text(query))).scalars())


async def row_lock_free(engine: AsyncEngine, table: str, key: str, value: Any) -> bool:
    """Whether the row of `table` whose `key` is `value` is there and could be locked now (`for update
    nowait`)."""
    async with engine.connect() as conn:
        try:
            found = await conn.scalar(text(f"select 1 from {table} where {key} = :v for update nowait"), {"v": value})
        except DBAPIError:
            return False
        finally:
            await conn.rollback()
    return found == 1


async def crossing(
    engine: AsyncEngine, pause: Pause, first: Coroutine[Any, Any, None], second: Coroutine[Any, Any, None]
) -> list[BaseException | None]:
    """Two batches on the same rows: `first` (whose unit of work pauses at `pause`) runs until it holds its
    first rows, then `second` until it waits for a row lock (one the first holds), then the first goes on.
    How each ended: None, or its error (`deadlock detected` when the two take the rows in crossing orders)."""
    tasks: list[asyncio.Task[None]] = []
    try:
        tasks.append(asyncio.create_task(first))
        await pause.reached(tasks[0])
        tasks.append(asyncio.create_task(second))
        await eventually(lambda: waiting_for_a_lock(engine))
        pause.go_on.set()
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    finally:
        pause.go_on.set()
        for task in tasks:
            task.cancel()
        if len(tasks) < 2:
            second.close()  # never started


async def free_while_waiting(
    engine: AsyncEngine, table: str, key: str, held: Any, free: Any, batch: Coroutine[Any, Any, None]
) -> bool:
    """Whether the row `key = free` of `table` could be locked while `batch` waited for the row `key = held`,
    which another transaction held (as a batch that took it first) until then; `batch` has ended after.
    A batch locking its rows in the order of `key`, `held` the lower, holds no other row while it waits."""
    task: asyncio.Task[None] | None = None
    async with engine.connect() as other:
        try:
            await other.begin()
            await other.execute(text(f"select 1 from {table} where {key} = :v for update"), {"v": held})
            task = asyncio.create_task(batch)
            await eventually(lambda: waiting_for_a_lock(engine))
            locked = await row_lock_free(engine, table, key, free)
            await other.rollback()
            await asyncio.wait_for(task, 60)
        finally:
            if task is None:
                batch.close()  # never started
            elif not task.done():
                task.cancel()
    return locked

"""Two transactions interleaved by hand, for the lock-order tests: a unit of work's session that stops its
transaction after its first statement on a table until the test lets it go on, who waits for a row lock, and
whether a row's lock is free. Conditions waited for, never sleeps."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


@dataclass
class Pause:
    """Stops a transaction once its first statement naming `table` (e.g. "registry.requests") has run."""

    table: str
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    go_on: asyncio.Event = field(default_factory=asyncio.Event)

    def session(self, session: AsyncSession) -> AsyncSession:
        """`session`, pausing as said (a unit of work's `_opened` puts it in place of its own)."""
        return cast(AsyncSession, _PausingSession(session, self))

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
    """Whether the row of `table` whose `key` is `value` could be locked now (`for update nowait`)."""
    async with engine.connect() as conn:
        try:
            await conn.execute(text(f"select 1 from {table} where {key} = :v for update nowait"), {"v": value})
        except DBAPIError:
            return False
        finally:
            await conn.rollback()
    return True

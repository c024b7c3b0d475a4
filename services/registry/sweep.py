"""The window-close sweep: at window close, whoever is still INACTIVE or REACTIVATION_PENDING becomes
EXPIRED (DOMAIN.md), whether or not they ever asked.

Durable without a timer row per person: the queue is the state itself, a partial index on
window_closes_at over the people still out, so a restart (or a sweep that never ran) loses nothing:
the next run finds everyone whose window has closed. Batches are claimed with FOR UPDATE SKIP LOCKED,
so two replicas sweep side by side without waiting for each other or for the event consumers, and
each person gets one history row (a deterministic id) and one status change in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry import metrics
from services.registry.domain.batch import expire
from services.registry.handlers import Clock, utc_now
from services.registry.uow import PgUnitOfWork, UnitOfWork

log = logging.getLogger(__name__)
__all__ = ["Clock", "WindowSweep", "utc_now"]


class WindowSweep:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        prefix: str,
        on_commit: Callable[[], None] = lambda: None,
        clock: Clock = utc_now,
        batch_size: int = 1000,
        interval_s: float = 60.0,
        uow: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        self.uow = uow or (lambda: PgUnitOfWork(sessions, prefix))  # type: ignore[arg-type]
        self.on_commit, self.clock = on_commit, clock
        self.batch_size, self.interval_s = batch_size, interval_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: dt.datetime | None = None, max_batches: int | None = None) -> int:
        """Expire everyone whose window closed before `now` (the clock's time by default); how many."""
        now = now or self.clock()
        total, batches = 0, 0
        while max_batches is None or batches < max_batches:
            n, seen = await self._batch(now)
            total, batches = total + n, batches + 1
            if seen < self.batch_size:
                break
        return total

    async def _batch(self, now: dt.datetime) -> tuple[int, int]:
        """(expired, read) for one batch of the queue."""
        async with self.uow() as uow:
            people = await uow.expiring(now, self.batch_size)
            changes = expire(people, now)
            await uow.save(changes)
        if changes.people:
            metrics.WINDOW_EXPIRED.inc(len(changes.people))
            self.on_commit()
        return len(changes.people), len(people)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="registry-window-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                n = await self.run_once()
                if n:
                    log.info("window sweep expired %d participants", n)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next run picks up where this one failed
                log.exception("window sweep failed; retrying at the next interval")
            await asyncio.sleep(self.interval_s)

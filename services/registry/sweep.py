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

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry import metrics
from services.registry.domain.status import window_closed
from services.registry.handlers import (
    PARTICIPANT_FIELDS,
    UPSERT_PARTICIPANT,
    Clock,
    history_row,
    participant_from_row,
    status_change_row,
    utc_now,
)
from services.registry.store import STILL_OUT_SQL, H, P, outbox
from shared.db import bulk_insert, transaction

log = logging.getLogger(__name__)
__all__ = ["Clock", "WindowSweep", "utc_now"]


class WindowSweep:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        prefix: str,
        on_commit: Callable[[], None] = lambda: None,
        clock: Clock = utc_now,
        batch_size: int = 1000,
        interval_s: float = 60.0,
    ) -> None:
        self.sessions, self.prefix, self.on_commit, self.clock = sessions, prefix, on_commit, clock
        self.batch_size, self.interval_s = batch_size, interval_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: dt.datetime | None = None, max_batches: int | None = None) -> int:
        """Expire everyone whose window closed before `now` (the clock's time by default); how many."""
        now = now or self.clock()
        total, batches = 0, 0
        while max_batches is None or batches < max_batches:
            n = await self._batch(now)
            total, batches = total + n, batches + 1
            if n < self.batch_size:
                break
        return total

    async def _batch(self, now: dt.datetime) -> int:
        async with transaction(self.sessions) as session:
            rows = (
                await session.execute(
                    select(P)
                    # The partial index's own predicate, as literals: a prepared statement's generic plan
                    # could not prove that bound parameters imply it, and would read every participant.
                    .where(text(STILL_OUT_SQL), P.c.window_closes_at < now)
                    .order_by(P.c.window_closes_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).mappings()
            results = [window_closed(participant_from_row(r), now) for r in rows]
            expired = [r for r in results if r.history is not None and r.participant is not None]
            if not expired:
                return 0
            people = [{k: getattr(r.participant, k) for k in PARTICIPANT_FIELDS} for r in expired]
            await bulk_insert(session, P, people, UPSERT_PARTICIPANT)
            await bulk_insert(
                session,
                H,
                [history_row(r.participant.nik, r.history) for r in expired],  # type: ignore[union-attr, arg-type]
                "on conflict (event_id, nik) do nothing",
            )
            await bulk_insert(
                session,
                outbox,
                [status_change_row(self.prefix, r.participant, r.history) for r in expired],  # type: ignore[arg-type]
                "on conflict (event_id) do nothing",
            )
        metrics.WINDOW_EXPIRED.inc(len(expired))
        self.on_commit()
        return len(expired)

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

"""Retention of message texts (UU PDP 27/2022, CONTRACT.md: at most 90 days by default, settings).

A scheduled sweep empties the text and number of every message last touched more than
`personal_data_retention_days` ago, kind, state and times kept (the delivery history). A FAILED message
is the stored copy of a dead letter (its reason went to `pbi.notification-events.v1.dlq`): it is counted
apart. Kafka's dead-letter topics forget their records by their own retention (shared.topics,
DLQ_RETENTION_MS, 90 days). Messages still waiting to be sent are left alone.

Batches of BATCH rows, claimed with SKIP LOCKED (a sender working on a row is never waited for, and two
replicas never empty the same row twice); the partial index on the rows that still have a text makes the
sweep's cost that of the rows it empties, not of the table."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter as Tally
from collections.abc import Callable

import structlog
from prometheus_client import Counter
from sqlalchemy import Index, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier.store import SCHEMA, M
from shared.db import transaction

log = structlog.get_logger(__name__)
Clock = Callable[[], dt.datetime]

REMOVED = Counter(
    "pbi_notifier_retention_removed_total",
    "Message texts removed by the retention sweep (what: message, or dead_letter for a FAILED message's copy)",
    ["what"],
)
BATCH = 5000
# The sweep's queue: only rows that still have a text (revision 0005_privacy_erasures_retention).
Index("ix_notifier_messages_retention", M.c.updated_at, postgresql_where=text("text <> ''"))
_EMPTY_OLD = text(
    f"""
    update {SCHEMA}.messages m set text = '', phone = '',
        state = case when m.state = 'WAITING' then 'SKIPPED' else m.state end  -- its number never came
    from (
        select message_id from {SCHEMA}.messages
        where text <> '' and updated_at < :cutoff and state not in ('QUEUED', 'SENDING')
        order by updated_at limit :batch for update skip locked
    ) old
    where m.message_id = old.message_id
    returning m.state
    """
)


def what_was_removed(state: str) -> str:
    return "dead_letter" if state == "FAILED" else "message"


async def remove_old_texts(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime, days: int, batch: int = BATCH
) -> dict[str, int]:
    """One sweep: empties every message older than `days`, batch by batch; returns the counts by what."""
    cutoff = now - dt.timedelta(days=days)
    removed: Tally[str] = Tally()
    while True:
        async with transaction(sessions) as session:
            states = (await session.execute(_EMPTY_OLD, {"cutoff": cutoff, "batch": batch})).scalars().all()
        counts = Tally(what_was_removed(s) for s in states)
        for what, n in counts.items():  # counted once committed
            REMOVED.labels(what).inc(n)
        removed.update(counts)
        if len(states) < batch:
            break
    if removed:
        log.info("retention_removed", cutoff=cutoff.isoformat(), **removed)
    return dict(removed)


class RetentionSweep:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, days: int, interval_s: float) -> None:
        self.sessions, self.clock, self.days, self.interval_s = sessions, clock, days, interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier-retention")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def run_once(self) -> dict[str, int]:
        return await remove_old_texts(self.sessions, self.clock(), self.days)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - tried again at the next interval
                log.warning("retention_failed", error=type(exc).__name__, detail=str(exc)[:200])
            await asyncio.sleep(self.interval_s)

"""Who read which participant record, written by group commit.

A read is answered only once its log row is committed (an audit trail that loses the last reads of a
crash is no trail), yet reads do not pay a transaction each: the reads that arrive while one insert is
in flight wait for the next, which writes them all in one statement. At rest a read costs one insert;
under load, one insert per round trip whatever the number of readers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry.privacy import READS
from shared.db import bulk_insert

Clock = Callable[[], dt.datetime]


class AccessLog:
    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0  # inserts made (tests: many concurrent reads, few inserts)

    async def record(self, nik: str, key_id: str, view: str) -> None:
        """Returns once the read is on record; raises when it could not be written (the read then fails)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(({"nik": nik, "key_id": key_id, "read_at": self.clock(), "view": view}, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="registry-access-log")
        await asyncio.shield(done)  # a client that goes away does not take its row with it

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self.engine.begin() as conn:
                    await bulk_insert(conn, READS, [row for row, _ in batch])
                self.writes += 1
            except Exception as exc:  # noqa: BLE001 - handed to every waiting read
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

"""Transactional ids a restarted process takes over from the one it replaces.

A Kafka transaction left open by a process that died (SIGKILL, out of memory) holds back every read_committed
consumer of the partitions it wrote to until the broker aborts it: transaction.timeout.ms later, 60 s with
aiokafka's default. A producer that starts with the same transactional id aborts it at once (the broker fences
the old producer when the new one initialises). With an id made unique per process, a SIGKILLed intake stalled
the whole wave for a minute (`make chaos`, "SIGKILL intake": 61.5 s to recover, 12-15 s for any other service).

So an id is leased, not made up: slot n of a name is held by a session-level advisory lock on a connection the
process keeps for its life. PostgreSQL releases the lock when that connection ends, with the process, so the
process that replaces a dead one finds the lowest slot free again and starts with the dead one's id. Two live
processes never hold the same slot, so they never fence each other (the reason the ids were unique).

The same connection holds a lock on an `instance` token, random per lease, so that others can tell whether its
holder still lives (`holder_alive`): intake marks its Idempotency-Key claims with it, and a retry takes over at
once a claim whose process died in the middle of the request (it waited a minute for the claim to go stale).
A lease taken again after its connection was lost (a database restart) gets a new token: the claims of requests
that failed meanwhile, which could not even be released, are free at once too. A request still running under
the old token may then be published twice, under the same ids, which the consumers de-duplicate."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import structlog
from sqlalchemy import Column, ColumnElement, cast, column, exists, literal_column, table, text
from sqlalchemy.dialects.postgresql import OID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

SLOTS = 256  # live processes of one name at most (replicas of intake's HTTP process, each with its worker)
_TRY = text("select pg_try_advisory_lock(hashtext(:name), :slot)")  # two int4 keys: apart from bigint keys
_HOLD = text("select pg_advisory_lock(:token)")  # one bigint key: nobody else has this random token
_PG_LOCKS = table(
    "pg_locks", column("locktype"), column("objsubid"), column("granted"), column("classid"), column("objid")
)


def holder_alive(token: Column[int]) -> ColumnElement[bool]:
    """Whether the process whose instance token is in `token` (a table's column, the enclosing statement's row:
    an ON CONFLICT's existing row too) still holds its lock, i.e. lives. PostgreSQL shows a bigint advisory key
    in pg_locks as classid (high 32 bits) and objid (low), objsubid 1."""
    # Named as text: SQLAlchemy does not correlate a subquery with an INSERT's row, it would select the table.
    owner = token.table
    row: ColumnElement[int] = literal_column(
        ".".join(filter(None, (getattr(owner, "schema", None), getattr(owner, "name", None), token.name)))
    )
    locks = _PG_LOCKS.c
    return exists().where(
        locks.locktype == "advisory",
        locks.objsubid == 1,
        locks.granted,
        locks.classid == cast(row.op(">>")(32), OID),
        locks.objid == cast(row.op("&")(0xFFFFFFFF), OID),
    )


class NoFreeSlot(RuntimeError):
    pass


class TransactionalIdLease:
    """`await lease.current()`: "<name>-<slot>", leased on first use and again (perhaps another slot) when the
    lease's connection was lost, e.g. to a database restart; a producer started with the old id must then
    start again (DirectPublisher does). `release()` gives the slot back."""

    def __init__(self, engine: AsyncEngine, name: str, slots: int = SLOTS) -> None:
        self.engine, self.name, self.slots = engine, name, slots
        self._conn: AsyncConnection | None = None
        self._driver: Any = None  # asyncpg's connection: knows, without a round trip, that the server closed it
        self._id: str | None = None
        self._lock = asyncio.Lock()
        self.instance = 0  # the current lease's token (positive: its halves map onto pg_locks' oids as they are)

    async def held_instance(self) -> int:
        """The instance token of this process's lease, its lock held (a new one if the lease was taken again)."""
        await self.current()
        return self.instance

    async def current(self) -> str:
        if self._id is not None and not self._driver.is_closed():
            return self._id
        async with self._lock:
            if self._id is None or self._driver.is_closed():
                await self._drop()
                self._id = await self._lease()
            return self._id

    async def release(self) -> None:
        async with self._lock:
            await self._drop()

    async def _lease(self) -> str:
        conn = await self.engine.connect()
        self.instance = secrets.randbits(62) + 1
        try:
            for slot in range(self.slots):
                if (await conn.execute(_TRY, {"name": self.name, "slot": slot})).scalar():
                    await conn.execute(_HOLD, {"token": self.instance})
                    await conn.commit()  # the locks are the session's: they outlive this transaction
                    self._conn, self._driver = conn, (await conn.get_raw_connection()).driver_connection
                    log.info("transactional_id_leased", name=self.name, slot=slot)
                    return f"{self.name}-{slot}"
        except BaseException:
            await conn.close()
            raise
        await conn.close()
        raise NoFreeSlot(f"all {self.slots} transactional ids of {self.name!r} are held by live processes")

    async def _drop(self) -> None:
        conn, self._conn, self._driver, self._id = self._conn, None, None, None
        if conn is not None:
            try:
                await conn.invalidate()  # closed, never back to the pool still holding the lock
            except Exception:  # noqa: BLE001 - already gone with the server
                pass
            await conn.close()  # the invalidated proxy released (nothing goes back to the pool)

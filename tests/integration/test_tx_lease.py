"""Leased transactional ids (shared.tx_lease) on the real broker and database: live processes never share an id,
a lease lost with its connection is taken again and the producer moves to the new id, and a transaction a
killed process left open stops holding back read_committed readers as soon as its successor starts, long
before Kafka's transaction timeout would end it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import BigInteger, Column, MetaData, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.kafka_security import kafka_client_options
from shared.messaging import BatchPublisher, DirectPublisher, Record
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from shared.tx_lease import TransactionalIdLease, holder_alive
from testkit.kafka import partitions
from testkit.polling import eventually
from testkit.system import ROOT

KEY = b"3674015708000001"


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(settings)
    yield engine
    await engine.dispose()


async def held_slots(engine: AsyncEngine, name: str) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "select objid::int from pg_locks where locktype = 'advisory' and objsubid = 2"
                " and classid = (hashtext(:name)::bigint & 4294967295)::oid order by 1"
            ),
            {"name": name},
        )
        return [r[0] for r in rows]


async def test_live_leases_never_share_an_id_and_a_released_slot_is_taken_first(engine: AsyncEngine) -> None:
    name = "lease-test-a"
    first, second = TransactionalIdLease(engine, name), TransactionalIdLease(engine, name)
    assert [await first.current(), await second.current()] == [f"{name}-0", f"{name}-1"]
    assert await first.current() == f"{name}-0"  # held: the same id on every call
    assert await held_slots(engine, name) == [0, 1]
    await first.release()
    third = TransactionalIdLease(engine, name)
    assert await third.current() == f"{name}-0"
    await second.release()
    await third.release()
    assert await held_slots(engine, name) == []


async def test_a_lease_lost_with_its_connection_moves_its_producer_to_the_new_id(
    settings: Settings, engine: AsyncEngine
) -> None:
    """The lease's backend is killed (a database restart does that) and another process takes its slot before
    it looks again: it must lease another id and start its producer again, else the two would fence each other."""
    name = f"{settings.topic_prefix}lease-test-b"
    await ensure_topics(settings)
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    lost, other = TransactionalIdLease(engine, name), TransactionalIdLease(engine, name)
    options = kafka_client_options(settings)
    first, second = DirectPublisher(options, transactional_id=lost), DirectPublisher(options, transactional_id=other)
    try:
        await first.publish([Record(topic, b"1", KEY, [])])
        assert await held_slots(engine, name) == [0]
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and objsubid = 2"
                    " and classid = (hashtext(:name)::bigint & 4294967295)::oid"
                ),
                {"name": name},
            )
            await conn.commit()
        await eventually(lambda: _slots_are(engine, name, []), timeout=30)
        old_token = lost.instance
        assert not await token_alive(engine, old_token)  # its claims are free at once (intake's Idempotency-Keys)
        await second.publish([Record(topic, b"2", KEY, [])])  # takes slot 0, the id `first` still produces with
        await eventually(lambda: _closed(lost), timeout=30)  # asyncpg has read the end of the stream
        await first.publish([Record(topic, b"3", KEY, [])])  # on slot 1 now, a producer of its own
        await second.publish([Record(topic, b"4", KEY, [])])  # not fenced by `first`
        assert await lost.current() == f"{name}-1" and await other.current() == f"{name}-0"
        # Leased again, under a new token: what failed under the old one stays free, the new one is alive.
        assert lost.instance != old_token and await token_alive(engine, await lost.held_instance())
        assert not await token_alive(engine, old_token)
    finally:
        for p in (first, second):
            await p.stop()
        for lease in (lost, other):
            await lease.release()


TOKENS = Table("tokens", MetaData(), Column("token", BigInteger))


async def token_alive(engine: AsyncEngine, token: int) -> bool:
    """shared.tx_lease.holder_alive asked of a row holding `token`."""
    alive = holder_alive(TOKENS.c.token).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    async with engine.connect() as conn:
        query = text(f"select {alive} from (values (cast(:token as bigint))) as tokens(token)")
        return bool((await conn.execute(query, {"token": token})).scalar())


async def _slots_are(engine: AsyncEngine, name: str, slots: list[int]) -> bool:
    return await held_slots(engine, name) == slots


async def _closed(lease: TransactionalIdLease) -> bool:
    return lease._driver is None or lease._driver.is_closed()


HOLD_OPEN = textwrap.dedent(
    """
    import asyncio, os, sys
    from shared.db import make_engine
    from shared.kafka_security import kafka_client_options
    from shared.messaging import BatchPublisher, Record
    from shared.settings import Settings
    from shared.tx_lease import TransactionalIdLease, holder_alive

    async def main():
        settings = Settings()
        lease = TransactionalIdLease(make_engine(settings), sys.argv[1])
        # Kafka's longest: only the successor taking the id over can end this transaction within the test.
        options = kafka_client_options(settings)
        publisher = BatchPublisher(options, transactional_id=lease, transaction_timeout_ms=900_000)
        producer = await publisher._started()
        await producer.begin_transaction()
        await (await producer.send(sys.argv[2], b"never committed", key=sys.argv[3].encode()))
        print("open", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_a_transaction_a_killed_process_left_open_is_aborted_when_its_successor_starts(
    settings: Settings, engine: AsyncEngine
) -> None:
    name = f"{settings.topic_prefix}lease-test-c"
    await ensure_topics(settings)
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
    }
    env.pop("TOPIC_PREFIX", None)
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_OPEN, name, topic, KEY.decode(), env=env, cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None

        async def opened() -> bool:  # its log lines come first
            line = await holder.stdout.readline()  # type: ignore[union-attr]
            assert line, "the process holding the transaction ended by itself"
            return line == b"open\n"

        await eventually(opened, timeout=120, interval=0)
    finally:
        holder.kill()
        await holder.wait()
    options = kafka_client_options(settings)
    async with DirectPublisher(options) as plain:
        await plain.publish([Record(topic, b"committed after", KEY, [])])  # same key: the blocked partition
    committed = AIOKafkaConsumer(**options, isolation_level="read_committed", auto_offset_reset="earliest")
    everything = AIOKafkaConsumer(**options, isolation_level="read_uncommitted")
    await committed.start()
    await everything.start()
    successor: TransactionalIdLease | None = None
    try:
        ends = await everything.end_offsets(await partitions(settings, topic))
        [partition] = [tp for tp, end in ends.items() if end > 0]  # both records have one key: one partition
        # The open transaction holds the last stable offset at its first record: nothing after it is readable.
        stable = (await committed.end_offsets([partition]))[partition]
        assert stable < (await everything.end_offsets([partition]))[partition]

        await eventually(lambda: _slots_are(engine, name, []), timeout=60)  # the dead process's backend ended
        successor = TransactionalIdLease(engine, name)
        assert await successor.current() == f"{name}-0"  # the dead one's id
        async with BatchPublisher(options, transactional_id=successor) as taking_over:
            await taking_over.start()

        async def readable() -> list[bytes] | None:
            ends = await committed.end_offsets([partition])
            everything_end = (await everything.end_offsets([partition]))[partition]
            if ends[partition] < everything_end:
                return None
            committed.assign([partition])
            committed.seek(partition, stable)
            got = await committed.getmany(partition, timeout_ms=500)
            return [r.value for r in got.get(partition, [])] or None

        assert await eventually(readable, timeout=60) == [b"committed after"]  # the open one aborted, never read
    finally:
        await committed.stop()
        await everything.stop()
        if successor is not None:
            await successor.release()

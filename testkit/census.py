"""What a bench stage wrote, per item: PostgreSQL row operations per table (inserts, updates, deletes from
`pg_stat_user_tables`) and Kafka records per topic (end offsets, transaction markers included), so that the
cost model of docs/performance.md ("rows per event") comes from the same run as the CPU figures.

PostgreSQL publishes a backend's table counts when it goes idle, at most once a second: `take` waits that
long before it reads, so a stage's last batches are counted in that stage."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

STATS_FLUSH_S = 1.2  # PostgreSQL's PGSTAT_MIN_INTERVAL (1 s), and a little more

ROWS_SQL = """
select schemaname || '.' || relname as name, n_tup_ins as ins, n_tup_upd as upd, n_tup_del as del
from pg_stat_user_tables
"""


@dataclass
class Snapshot:
    rows: dict[str, tuple[int, int, int]]  # table -> (inserted, updated, deleted)
    records: dict[str, int]  # topic (without the run's prefix) -> end offsets summed over partitions


class Census:
    def __init__(self, pg: asyncpg.Connection, kafka: str, prefix: str) -> None:
        self.pg, self.kafka, self.prefix = pg, kafka, prefix

    async def take(self) -> Snapshot:
        await asyncio.sleep(STATS_FLUSH_S)
        rows = {r["name"]: (r["ins"], r["upd"], r["del"]) for r in await self.pg.fetch(ROWS_SQL)}
        return Snapshot(rows, await self._records())

    async def _records(self) -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            topics = [t for t in await admin.list_topics() if t.startswith(self.prefix)]
            described = await admin.describe_topics(topics)
            partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            found: dict[str, int] = {}
            for tp, end in ends.items():
                name = tp.topic.removeprefix(self.prefix)
                found[name] = found.get(name, 0) + end
            return found
        finally:
            await consumer.stop()
            await admin.close()


def per_item(before: Snapshot, after: Snapshot, n: int) -> dict[str, Any]:
    """Row operations and records per item, by table and topic, with totals by schema (a service's own)."""
    tables: dict[str, float] = {}
    for name, (ins, upd, dele) in after.rows.items():
        b = before.rows.get(name, (0, 0, 0))
        ops = (ins - b[0]) + (upd - b[1]) + (dele - b[2])
        if ops:
            tables[name] = round(ops / n, 3)
    schemas: dict[str, float] = {}
    for name, value in tables.items():
        schema = name.split(".", 1)[0]
        schemas[schema] = round(schemas.get(schema, 0.0) + value, 3)
    topics = {
        t: round((end - before.records.get(t, 0)) / n, 3)
        for t, end in after.records.items()
        if end != before.records.get(t, 0)
    }
    return {
        "rows_per_item": round(sum(tables.values()), 3),
        "rows_by_schema": dict(sorted(schemas.items(), key=lambda kv: -kv[1])),
        "rows_by_table": dict(sorted(tables.items(), key=lambda kv: -kv[1])),
        "records_per_item": round(sum(topics.values()), 3),
        "records_by_topic": dict(sorted(topics.items(), key=lambda kv: -kv[1])),
    }

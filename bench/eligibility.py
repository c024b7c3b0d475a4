"""Eligibility throughput and emergency latency under a bulk backlog.

The service runs as its own process (`pbi run eligibility`, its own database and topic prefix).
The facts of N + E people are loaded into its facts table (the bench is about deciding, not about
folding facts), then N REGULAR requests are produced at once to the bulk topic while E emergency
requests go to the emergency lane at a steady rate. Measured end to end, from producing a request
to its decision event arriving on the decisions topic (so through the outbox relay):

- bulk decisions per second (target >= 3,000/s on a 2-core machine, everything co-located);
- emergency latency p50/p99 while the backlog drains (target p99 < 1 s).

    .venv/bin/python -m bench.eligibility [N]      (default 100,000; BENCH_DECISIONS also read)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.eligibility.store import FactsRow
from shared.events import Documents, HospitalLetter, ReactivationRequested
from shared.kafka import ensure_topics
from shared.process import start_owned
from shared.settings import EligibilitySettings
from shared.topics import DECISIONS, EMERGENCY_REQUESTS, REACTIVATION_REQUESTS, all_topic_names
from testkit.clock import published_at
from testkit.infra import new_run_prefix

ROOT = Path(__file__).resolve().parents[1]
EMERGENCY_RATE = float(os.environ.get("BENCH_EMERGENCY_RATE", "5"))  # per second during the backlog


def nik(i: int) -> str:
    """The i-th distinct valid NIK of Tangerang Selatan (province 36, WIB)."""
    serial, rest = i % 9999 + 1, i // 9999
    day, rest = rest % 28 + 1, rest // 28
    month, year = rest % 12 + 1, (rest // 12) % 100
    return f"367401{day:02d}{month:02d}{year:02d}{serial:04d}"


def facts_rows(n: int, today: dt.date) -> list[dict]:
    """70% eligible, 20% waiting for a re-ranking (PENDING), 10% ranked desil 7 (REJECTED)."""
    rows = []
    for i in range(n):
        kind = i % 10
        rows.append(
            {
                "nik": nik(i),
                "deactivated_on": today - dt.timedelta(days=30),
                "desil": None if kind in (7, 8) else 7 if kind == 9 else 3,
                "desil_effective_on": None if kind in (7, 8) else today - dt.timedelta(days=5),
                "biometric_recorded": True,
                "deceased": False,
                "nik_conflict_open": False,
                "id_semesta": "IDS" if i % 2 else None,
                "reactivated": False,
                "phone": None,
            }
        )
    return rows


def request(i: int, emergency: bool) -> ReactivationRequested:
    now = dt.datetime.now(dt.UTC)
    return ReactivationRequested(
        occurred_at=now,
        source="bench",
        nik=nik(i),
        request_id=uuid.uuid4(),
        path="EMERGENCY" if emergency else "REGULAR",
        channel="HOSPITAL" if emergency else "VILLAGE",
        received_at=now,
        sla_deadline=now + dt.timedelta(hours=24) if emergency else None,
        documents=Documents(hospital_letter=HospitalLetter(facility_code="3674R001", letter_no="IGD/1"))
        if emergency
        else Documents(),
        facility_registered=True if emergency else None,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(port: int, proc: subprocess.Popen) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"eligibility exited with {proc.returncode}")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("eligibility not ready after 60 s")


class DecisionWatcher:
    """Reads the decisions topic, noting when each request's first decision was published."""

    def __init__(self, settings: EligibilitySettings) -> None:
        self.consumer = AIOKafkaConsumer(
            settings.topic_prefix + DECISIONS.name,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            # No consumer group: nothing to heartbeat. A bench starved of CPU lost its group membership
            # and printed rebalance warnings in the middle of its table.
            group_id=None,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=4 * 2**20,
        )
        self.first: dict[str, float] = {}
        self.bulk = 0

    async def run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=5000)
            # When eligibility published it (the record's CreateTime), not when this reader got to it: a bench
            # starved of CPU would otherwise add its own delay to eligibility's time.
            read_perf, read_epoch = time.perf_counter(), time.time()
            for records in batches.values():
                for r in records:
                    d = json.loads(r.value)
                    if d["request_id"] not in self.first:
                        self.first[d["request_id"]] = published_at(r.timestamp, read_perf, read_epoch)
                        self.bulk += d["path"] == "REGULAR"


async def delete_topics(settings: EligibilitySettings) -> None:
    """The bench's topics go away with it (left behind, their partitions pile up in the broker)."""
    client = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        await client.start()
        await client.delete_topics(all_topic_names(settings.topic_prefix))
    except (KafkaError, OSError) as exc:
        print(f"could not delete the bench topics {settings.topic_prefix}*: {exc!r}")
    finally:
        await client.close()


async def run(n: int) -> dict[str, float]:
    base = EligibilitySettings()
    db = f"pbi_bench_elig_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(base.database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'create database "{db}"'))
    url = make_url(base.database_url).set(database=db).render_as_string(hide_password=False)
    settings = EligibilitySettings(database_url=url, topic_prefix=new_run_prefix("benchelig"))
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TOPIC_PREFIX": settings.topic_prefix,
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    emergencies = max(10, int(EMERGENCY_RATE * 20))
    proc = None
    try:
        await ensure_topics(settings)
        # Owned: killed with this run however it ends (shared.process), never left consuming beside the next.
        proc = start_owned([str(ROOT / ".venv/bin/pbi"), "run", "eligibility"], env=env, cwd=ROOT)
        await wait_ready(port, proc)
        engine = create_async_engine(url)
        rows = facts_rows(n + emergencies, dt.datetime.now(dt.UTC).date())
        async with engine.begin() as conn:
            for i in range(0, len(rows), 5000):
                await conn.execute(insert(FactsRow.__table__), rows[i : i + 5000])
        await engine.dispose()
        bulk = [request(i, False) for i in range(n)]
        payloads = [(r.model_dump_json().encode(), r.kafka_key()) for r in bulk]
        print(f"eligibility up on :{port}; facts of {len(rows):,} people loaded; producing {n:,} requests")

        watcher = DecisionWatcher(settings)
        await watcher.consumer.start()
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
        )
        await producer.start()
        # Its own producer: an emergency is not queued behind the bulk records in the bulk producer.
        urgent = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=0)
        await urgent.start()
        watching = asyncio.create_task(watcher.run())
        sent: dict[str, float] = {}

        async def emergency_lane() -> None:
            for j in range(emergencies):
                e = request(n + j, True)
                await urgent.send_and_wait(
                    settings.topic_prefix + EMERGENCY_REQUESTS.name, e.model_dump_json().encode(), key=e.kafka_key()
                )
                sent[str(e.request_id)] = time.perf_counter()
                await asyncio.sleep(1 / EMERGENCY_RATE)

        started = time.perf_counter()
        lane = asyncio.create_task(emergency_lane())
        topic = settings.topic_prefix + REACTIVATION_REQUESTS.name
        futures = [await producer.send(topic, value, key=key) for value, key in payloads]
        await asyncio.gather(*futures)
        print(f"produced {n:,} bulk requests in {time.perf_counter() - started:.1f}s")
        while watcher.bulk < n:
            await asyncio.sleep(0.2)
            if time.perf_counter() - started > 900:
                raise TimeoutError(f"only {watcher.bulk:,} of {n:,} decided after 900 s")
        elapsed = max(watcher.first[str(r.request_id)] for r in bulk) - started
        await lane
        while not all(rid in watcher.first for rid in sent):  # noqa: ASYNC110 - polling the watcher
            await asyncio.sleep(0.1)
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await producer.stop()
        await urgent.stop()
        await watcher.consumer.stop()

        latencies = sorted(watcher.first[rid] - t for rid, t in sent.items())
        during = [watcher.first[rid] - t for rid, t in sent.items() if t - started < elapsed]
        p = statistics.quantiles(latencies, n=100)
        result = {
            "bulk_requests": n,
            "seconds": elapsed,
            "decisions_per_s": n / elapsed,
            "emergencies": len(latencies),
            "emergencies_during_backlog": len(during),
            "emergency_p50_s": statistics.median(latencies),
            "emergency_p99_s": p[98],
            "emergency_max_s": latencies[-1],
        }
        print(
            f"eligibility: {n:,} bulk requests decided in {elapsed:.1f}s = {n / elapsed:,.0f} decisions/s "
            f"(target >= 3,000/s)\n"
            f"emergency lane: {len(latencies)} requests ({len(during)} during the backlog), "
            f"p50 {result['emergency_p50_s'] * 1000:,.0f} ms, p99 {result['emergency_p99_s'] * 1000:,.0f} ms, "
            f"max {result['emergency_max_s'] * 1000:,.0f} ms (target p99 < 1 s)"
        )
        return result
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        async with admin.connect() as conn:
            await conn.execute(text(f'drop database if exists "{db}" with (force)'))
        await admin.dispose()
        await delete_topics(settings)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_DECISIONS", "100000"))
    asyncio.run(run(count))

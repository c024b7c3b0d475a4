"""`make bench`: throughput, latency and memory of the whole system on this machine.

One run, everything co-located, after a warm-up: raw Kafka ceiling; a wave of BENCH_N
deactivations posted through intake until the registry committed them; emergency requests
at a steady rate during the wave (POST -> registry shows ACTIVE); decision throughput;
the 20,990-row import; peak RSS per service. Prints a table, writes bench-results.json.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from bench.raw_ceiling import measure as raw_ceiling
from pbi_cli.demo_data import generate
from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.settings import Settings
from tests.conftest import _create_database, _drop_database
from tests.e2e.system import PBI, RunningSystem, start_system
from tests.infra import LOCAL_DATABASE, LOCAL_KAFKA

out = Console()
ROOT = Path(__file__).resolve().parents[1]
N = int(os.environ.get("BENCH_N", "200000"))
DECISIONS_N = int(os.environ.get("BENCH_DECISIONS", "100000"))
EMERGENCY_RATE = float(os.environ.get("BENCH_EMERGENCY_RATE", "5"))  # per second during the wave


class RssSampler(threading.Thread):
    def __init__(self, system: RunningSystem) -> None:
        super().__init__(daemon=True)
        self.system, self.peak, self.stop_flag = system, {}, threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            for name, proc in self.system.processes.items():
                try:
                    p = psutil.Process(proc.pid)
                    rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                    self.peak[name] = max(self.peak.get(name, 0), rss / 2**20)
                except psutil.Error:
                    pass
            time.sleep(0.5)


def wave_events(n: int, seed: int) -> list[dict[str, Any]]:
    """n deactivation events shaped like the Tangerang Selatan wave (repeated with fresh NIKs)."""
    day = generate(scale=n / 20_990, seed=seed)
    return [
        {
            "type": "participant.deactivated",
            "occurred_at": f"{p.deactivated_on}T08:00:00+07:00",
            "source": "SIKS-NG",
            "nik": p.nik,
            "deactivated_on": p.deactivated_on.isoformat(),
            "reason": "DESIL_ABOVE_5",
            "name": p.name,
            **({"phone": p.phone} if p.phone else {}),
            "region": {"province": "Banten", "regency": "Kota Tangerang Selatan", "district": p.district},
        }
        for p in day.people[:n]
    ]


async def stats(client: httpx.AsyncClient, system: RunningSystem, key: str) -> dict[str, Any]:
    r = await client.get(system.url("registry") + "/v1/stats", headers={"Authorization": f"Bearer {key}"})
    r.raise_for_status()
    return r.json()


def participants_total(s: dict[str, Any]) -> int:
    return int(sum(s.get("by_status", {}).values()))


def decisions_total(s: dict[str, Any]) -> int:
    """Requests with a decision of any outcome: a PENDING one is decided too (it now waits for facts)."""
    return int(sum(s.get("decisions_by_outcome", {}).values()))


async def post_batches(
    client: httpx.AsyncClient, url: str, key: str, events: list[dict], size: int = 5000, concurrency: int = 2
) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(batch: list[dict]) -> None:
        async with sem:
            while True:
                r = await client.post(url, json={"events": batch}, headers={"Authorization": f"Bearer {key}"})
                if r.status_code == 202:
                    return
                if r.status_code != 503:
                    raise RuntimeError(f"intake answered {r.status_code}: {r.text[:300]}")
                await asyncio.sleep(1)

    await asyncio.gather(*(one(events[i : i + size]) for i in range(0, len(events), size)))


async def wait_until(check, limit_s: float) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        if await check():
            return time.perf_counter() - start
        await asyncio.sleep(0.25)
    raise TimeoutError("benchmark stage did not finish in time")


async def emergencies_during(
    client: httpx.AsyncClient, system: RunningSystem, people: list[dict], key: str, read_key: str, stop: asyncio.Event
) -> list[float]:
    latencies: list[float] = []

    async def one(person: dict) -> None:
        start = time.perf_counter()
        r = await client.post(
            system.url("intake") + "/v1/hospital/emergency-reactivations",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "nik": person["nik"],
                "facility_code": "3674R001",
                "letter_no": f"B/{uuid.uuid4().hex[:6]}",
                "admitted_at": "2026-11-24T08:00:00+07:00",
            },
        )
        if r.status_code != 202:
            return
        while time.perf_counter() - start < 60:
            g = await client.get(
                system.url("registry") + f"/v1/participants/{person['nik']}",
                headers={"Authorization": f"Bearer {read_key}"},
            )
            if g.status_code == 200 and g.json().get("status") == "ACTIVE":
                latencies.append((time.perf_counter() - start) * 1000)
                return
            await asyncio.sleep(0.02)

    tasks, i = [], 0
    while not stop.is_set() and i < len(people):
        tasks.append(asyncio.create_task(one(people[i])))
        i += 1
        await asyncio.sleep(1 / EMERGENCY_RATE)
    await asyncio.gather(*tasks)
    return latencies


async def main() -> dict[str, Any]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    admin_db = os.environ.get("DATABASE_URL", LOCAL_DATABASE)
    results: dict[str, Any] = {
        "BENCH_N": N,
        "machine": {
            "cores": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
        },
        "versions": {p: version(p) for p in ("faststream", "aiokafka", "sqlalchemy", "asyncpg", "fastapi")},
    }
    out.print("[bold]warm-up[/bold] and raw Kafka ceiling…")
    await raw_ceiling(kafka, 10_000)
    results.update(await raw_ceiling(kafka, N))

    db_name = f"pbi_bench_{uuid.uuid4().hex[:8]}"
    db_url = await _create_database(admin_db, db_name)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(Settings(kafka_bootstrap_servers=kafka, topic_prefix=prefix))
    system = start_system(db_url, kafka, prefix, ROOT / ".run" / "bench-logs", {"KAFKA_PARTITIONS_OVERRIDE": None})
    sampler = RssSampler(system)
    sampler.start()
    try:
        store = ApiKeyStore(make_engine(Settings(database_url=db_url)), Settings().api_key_pepper.get_secret_value())
        await store.migrate()
        writer = await store.issue("bench", ["events:write", "reactivations:write"])
        reader = await store.issue("bench", ["participants:read", "dashboard:read"])
        hospital = await store.issue("bench", ["emergency:write"], ["3674R001"])
        await store.engine.dispose()
        await shell(f"DATABASE_URL='{db_url}' {PBI} facilities add 3674R001 'RSUD Kota Tangerang Selatan'")

        async with httpx.AsyncClient(timeout=120) as client:
            # People the emergencies are for: deactivated (and committed) before the wave starts.
            warm = wave_events(2000, seed=99)
            await post_batches(client, system.url("intake") + "/v1/events", writer, warm)
            await wait_until(lambda: _at_least(client, system, reader, participants_total, len(warm)), 300)

            events = wave_events(N, seed=7)
            out.print(f"[bold]wave[/bold]: {N:,} deactivations through intake…")
            stop = asyncio.Event()
            emergency_task = asyncio.create_task(emergencies_during(client, system, warm, hospital, reader, stop))
            start = time.perf_counter()
            await post_batches(client, system.url("intake") + "/v1/events", writer, events)
            published_s = time.perf_counter() - start
            total = len(warm) + N
            await wait_until(lambda: _at_least(client, system, reader, participants_total, total), 3600)
            wave_s = time.perf_counter() - start
            stop.set()
            latencies = await emergency_task
            results.update(
                intake_publish_events_per_s=N / published_s,
                wave_events_per_s=N / wave_s,
                emergency_count=len(latencies),
                **_percentiles(latencies),
            )

            out.print(f"[bold]decisions[/bold]: {DECISIONS_N:,} requests through eligibility…")
            requests = [{"nik": e["nik"], "path": "REGULAR", "channel": "DINSOS"} for e in events[:DECISIONS_N]]
            before = decisions_total(await stats(client, system, reader))
            sem = asyncio.Semaphore(32)

            async def req(body: dict) -> None:
                async with sem:
                    await client.post(
                        system.url("intake") + "/v1/reactivations",
                        json=body,
                        headers={"Authorization": f"Bearer {writer}"},
                    )

            start = time.perf_counter()
            await asyncio.gather(*(req(b) for b in requests))
            await wait_until(lambda: _at_least(client, system, reader, decisions_total, before + len(requests)), 3600)
            results["decisions_per_s"] = len(requests) / (time.perf_counter() - start)

        out.print("[bold]import[/bold]: the 20,990-row Tangerang Selatan list…")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tangsel.csv"
            rows = list(generate(1.0, seed=11).deactivation_rows())
            with path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
            start = time.perf_counter()
            code = await shell(f"DATABASE_URL='{db_url}' TOPIC_PREFIX='{prefix}' {PBI} import deactivations {path}")
            results["import_rows_per_s"] = len(rows) / (time.perf_counter() - start) if code == 0 else None
    finally:
        sampler.stop_flag.set()
        results["peak_rss_mb"] = {k: round(v, 1) for k, v in sampler.peak.items()}
        system.stop()
        await _drop_database(admin_db, db_name)
    return results


async def shell(command: str) -> int:
    proc = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await proc.wait()


async def _at_least(client, system, key, metric, target) -> bool:  # type: ignore[no-untyped-def]
    return metric(await stats(client, system, key)) >= target


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"emergency_p50_ms": None, "emergency_p95_ms": None, "emergency_p99_ms": None, "emergency_max_ms": None}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {
        "emergency_p50_ms": q[49],
        "emergency_p95_ms": q[94],
        "emergency_p99_ms": q[98],
        "emergency_max_ms": max(values),
    }


def report(results: dict[str, Any]) -> None:
    ceiling = results["raw_ceiling_msgs_per_s"]
    table = Table(title=f"pbi-reactivation bench (BENCH_N={results['BENCH_N']:,})", title_justify="left")
    for col in ("figure", "value", "vs raw ceiling", "target"):
        table.add_column(col, justify="right" if col != "figure" else "left")
    rows = [
        ("raw Kafka ceiling (msgs/s)", ceiling, ""),
        ("intake publish (events/s)", results.get("intake_publish_events_per_s"), ""),
        ("wave end to end (events/s)", results.get("wave_events_per_s"), ">= 5,000"),
        ("decisions (per s)", results.get("decisions_per_s"), ">= 3,000"),
        ("import (rows/s)", results.get("import_rows_per_s"), "20,990 in < 10 s"),
        ("emergency p50 (ms)", results.get("emergency_p50_ms"), ""),
        ("emergency p99 (ms)", results.get("emergency_p99_ms"), "< 1,000"),
    ]
    for name, value, target in rows:
        ratio = f"{value / ceiling:.1%}" if value and "/s" in name else ""
        table.add_row(name, f"{value:,.0f}" if isinstance(value, int | float) else "n/a", ratio, target)
    for service, mb in results.get("peak_rss_mb", {}).items():
        table.add_row(f"peak RSS {service} (MB)", f"{mb:,.0f}", "", "< 300")
    out.print(table)


if __name__ == "__main__":
    res = asyncio.run(main())
    (ROOT / "bench-results.json").write_text(json.dumps(res, indent=2))
    report(res)
    out.print(f"written {ROOT / 'bench-results.json'}")

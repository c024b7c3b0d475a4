"""`make bench-emergency`: what one hospital emergency costs the whole system, per process.

`make bench` runs its emergencies beside a wave, where their cost is lost in the wave's. Here the system
(`make up`'s topology: each service an urgent and a bulk process) does nothing but emergencies:

1. the people are deactivated through intake and committed everywhere (bench.run.warm_up);
2. IDLE_S seconds with nothing to do: each process's CPU at rest (consumers polling, relays, timers);
3. BENCH_EMERGENCY_RATE emergencies a second for BENCH_EMERGENCY_S seconds, each POSTed to intake and
   watched until the registry shows the person ACTIVE (bench.run.Emergencies).

Per process it prints the CPU milliseconds per emergency (its own, and its PostgreSQL backends'), net of
its CPU at rest, and, with --statements, the SQL statements and transactions its connections sent per
emergency (PostgreSQL's statement log for the window: `log_statement = all` set with ALTER SYSTEM and
reset at the end, so it needs a superuser and the server's log file, as `make infra-up` runs it). Also the
PostgreSQL rows written and Kafka records per emergency (testkit.census). Writes
bench-emergency-results.json.

    BENCH_EMERGENCY_S=30 .venv/bin/python -m bench.emergency_cost --statements
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from bench.run import ROOT, Bench, Emergencies, started_bench, warm_up
from shared.kafka import ensure_topics
from shared.settings import Settings
from testkit.census import Census, per_item
from testkit.cpu import backends_by_client, by_client_seconds, infrastructure_pids, tree_cpu_seconds
from testkit.infra import (
    LOCAL_DATABASE,
    LOCAL_KAFKA,
    create_database,
    delete_prefixed_topics,
    drop_database,
    new_run_prefix,
)
from testkit.pg_log import StatementLog
from testkit.system import RunningSystem, start_system
from testkit.wave import wave_events

RATE = float(os.environ.get("BENCH_EMERGENCY_RATE", "5"))
SECONDS = float(os.environ.get("BENCH_EMERGENCY_S", "40"))
IDLE_S = float(os.environ.get("BENCH_IDLE_S", "15"))
RESULTS = ROOT / "bench-emergency-results.json"
out = Console()


def cpu_of(system: RunningSystem, infra: dict[str, list[int]]) -> dict[str, float]:
    return {n: tree_cpu_seconds([p.pid]) for n, p in system.processes.items()} | {
        k: tree_cpu_seconds(v) for k, v in infra.items()
    }


def per_emergency(
    before: dict[str, float], after: dict[str, float], at_rest: dict[str, float], seconds: float, n: int
) -> dict[str, dict[str, float]]:
    """CPU ms per emergency, each process's: as measured, and net of its rate at rest (per second) over the
    window."""
    return {
        k: {
            "gross": round((after[k] - before[k]) * 1000 / n, 2),
            "net": round(((after[k] - before[k]) - at_rest.get(k, 0.0) * seconds) * 1000 / n, 2),
        }
        for k in before
    }


async def run(statements: bool) -> dict[str, Any]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    admin = os.environ.get("DATABASE_URL", LOCAL_DATABASE)
    n_people = int(RATE * SECONDS) + 10
    today = dt.date.today()
    people = [
        e
        for e in wave_events(n_people * 3, seed=7)
        if dt.date.fromisoformat(e["deactivated_on"]) > today - dt.timedelta(days=170)  # window still open
    ][:n_people]
    db_url = await create_database(admin, f"pbi_bench_{uuid.uuid4().hex[:8]}")
    prefix = new_run_prefix("bench")
    await ensure_topics(Settings(kafka_bootstrap_servers=kafka, topic_prefix=prefix))
    log_dir = ROOT / ".run" / "bench-logs" / prefix.rstrip(".")
    out.print(f"starting the system ({log_dir})…")
    system = start_system(db_url, kafka, prefix, log_dir, {"KAFKA_PARTITIONS_OVERRIDE": None}, roles=True)
    psutil.Process(system.processes["simulator"].pid).nice(10)  # stands in for providers off this machine
    try:
        async with httpx.AsyncClient(timeout=120) as client:
            b = await started_bench(kafka, db_url, prefix, system, client)
            try:
                out.print(f"{len(people):,} people deactivated, 3 emergencies to warm up…")
                await warm_up(b, people)
                return await measure(b, system, people[:-3], statements)
            finally:
                await b.stop()
    finally:
        system.stop()
        await drop_database(admin, db_url.rsplit("/", 1)[1])
        await delete_prefixed_topics(kafka, prefix)


async def measure(b: Bench, system: RunningSystem, people: list[dict[str, Any]], statements: bool) -> dict[str, Any]:
    infra = infrastructure_pids()
    owners = {p.pid: name for name, p in system.processes.items()}
    out.print(f"at rest for {IDLE_S:g} s…")
    idle0, idle_t = cpu_of(system, infra), time.monotonic()
    await asyncio.sleep(IDLE_S)
    idle1, idle_s = cpu_of(system, infra), time.monotonic() - idle_t
    at_rest = {k: (idle1[k] - idle0[k]) / idle_s for k in idle0}

    out.print(f"emergencies at {RATE:g}/s for {SECONDS:g} s…")
    assert b.pg is not None
    log = StatementLog(b.pg) if statements else None
    if log is not None:
        await log.start()
    census = Census(b.pg, b.kafka, b.prefix)
    rows0, pg0, cpu0, t0 = await census.take(), backends_by_client(owners), cpu_of(system, infra), time.monotonic()
    probe, stop = Emergencies(b, [e["nik"] for e in people], RATE), asyncio.Event()
    sending = asyncio.create_task(probe.send(stop))
    polling = asyncio.create_task(probe.poll(sending))
    await asyncio.sleep(SECONDS)
    stop.set()
    await sending
    await polling
    cpu1, pg1, seconds = cpu_of(system, infra), backends_by_client(owners), time.monotonic() - t0
    n = len(probe.done)
    if n == 0:
        raise RuntimeError("no emergency reached ACTIVE: see the logs")
    sent = await log.stop() if log is not None else Counter()
    written = per_item(rows0, await census.take(), n)
    latencies = sorted(probe.latencies_ms)
    by_backend = {pid: name for pid, (name, _) in pg1.items()}
    results: dict[str, Any] = {
        "emergencies": n,
        "seconds": round(seconds, 1),
        "rate_per_s": RATE,
        "p50_ms": round(latencies[len(latencies) // 2]),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]),
        "cpu_ms_per_emergency": per_emergency(cpu0, cpu1, at_rest, seconds, n),
        "at_rest_share_of_a_core": {k: round(v, 3) for k, v in at_rest.items()},
        "postgresql_ms_per_emergency_by_client": {
            k: round(v * 1000 / n, 2) for k, v in by_client_seconds(pg0, pg1).items()
        },
        "written_per_emergency": written,
    }
    if statements:
        per_process: dict[str, Counter[str]] = {}
        for (pid, sql), count in sent.items():
            per_process.setdefault(by_backend.get(pid, "other"), Counter())[sql] += count
        results["statements_per_emergency"] = {
            name: {
                "total": round(sum(c.values()) / n, 1),
                "transactions": round(c["COMMIT;"] / n, 1),
                "top": {sql: round(v / n, 2) for sql, v in c.most_common(12)},
            }
            for name, c in sorted(per_process.items())
        }
    return results


def report(r: dict[str, Any]) -> None:
    # Per emergency, each process: its CPU, net of its CPU at rest, its PostgreSQL backends', what it sent.
    table = Table(
        title=f"{r['emergencies']} emergencies at {r['rate_per_s']:g}/s: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms"
    )
    table.add_column("process", no_wrap=True)
    for column in ("CPU ms", "net of rest", "its PostgreSQL ms", "SQL statements", "transactions"):
        table.add_column(column, justify="right")
    cpu, pg, st = (
        r["cpu_ms_per_emergency"],
        r["postgresql_ms_per_emergency_by_client"],
        r.get("statements_per_emergency", {}),
    )
    for name, ms in sorted(cpu.items(), key=lambda kv: -kv[1]["net"]):
        s = st.get(name, {})
        table.add_row(
            name,
            f"{ms['gross']:.1f}",
            f"{ms['net']:.1f}",
            f"{pg[name]:.1f}" if name in pg else "",
            str(s.get("total", "")),
            str(s.get("transactions", "")),
        )
    table.add_row(
        "total",
        f"{sum(v['gross'] for v in cpu.values()):.1f}",
        f"{sum(v['net'] for v in cpu.values()):.1f}",
        "",
        "",
        "",
    )
    out.print(table)
    w = r["written_per_emergency"]
    out.print(f"PostgreSQL rows written per emergency: {w['rows_per_item']} {w['rows_by_table']}")
    out.print(f"Kafka records per emergency: {w['records_per_item']} {w['records_by_topic']}")


def main() -> None:
    statements = "--statements" in sys.argv
    results = asyncio.run(run(statements))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    report(results)
    out.print(f"written {RESULTS}")


if __name__ == "__main__":
    main()

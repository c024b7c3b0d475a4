"""`make bench`: throughput, latency and memory of the whole system on this machine.

One run, everything co-located (Kafka, PostgreSQL, the four services, the provider simulator and
this process), after a warm-up:

1. raw ceiling: plain aiokafka produce -> consume of BENCH_N messages of the wave's size;
2. wave: BENCH_N deactivations POSTed to intake in batches, until the registry committed them all;
   per stage (intake publish, eligibility facts, registry) from the services' /metrics and the
   consumer groups' committed offsets;
3. emergencies during the wave, at a steady rate: POST -> the registry's row shows ACTIVE, watched
   with one PostgreSQL query per poll for every open emergency (nothing asked of the services);
4. decisions: BENCH_DECISIONS ReactivationRequested events produced straight to the requests topic
   for people of the wave (eligibility has their facts), until every decision is on the decisions
   topic (and then in the registry);
5. the 20,990-row `pbi import deactivations`;
6. peak RSS per service; CPU seconds per service, Kafka and PostgreSQL for every stage; PostgreSQL rows
   written per table and Kafka records per topic, per wave event and per decision (testkit.census).

bench-results.json is rewritten after every stage with "complete": false (true at the end), so a
run cut short still leaves its figures. BENCH_PROFILE=1 runs every service under pyinstrument
(profiles in .run/profiles/). See docs/performance.md.

    BENCH_N=20000 BENCH_DECISIONS=10000 .venv/bin/python -m bench.run
    .venv/bin/python -m bench.run --report        (the table again from bench-results.json)
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url

from bench.eligibility import DecisionWatcher, request
from bench.raw_ceiling import measure as raw_ceiling
from bench.stage_profile import PROFILE_DIR, start_profiled_system
from bench.stage_watch import CpuMeter, GroupProgress, RssSampler, Samples, metric, scrape
from pbi_cli.demo_data import generate
from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.messaging import BATCH_BYTES, BatchPublisher, Record
from shared.settings import EligibilitySettings, Settings
from shared.topics import PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from testkit.census import Census, per_item
from testkit.cpu import cpu_gauge_ms, infrastructure_pids
from testkit.infra import (
    LOCAL_DATABASE,
    LOCAL_KAFKA,
    create_database,
    delete_prefixed_topics,
    drop_database,
    new_run_prefix,
)
from testkit.system import PBI, SERVICES, RunningSystem, start_system
from testkit.wave import wave_events

out = Console()
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench-results.json"
N = int(os.environ.get("BENCH_N", "200000"))
DECISIONS_N = int(os.environ.get("BENCH_DECISIONS", "100000"))
EMERGENCY_RATE = float(os.environ.get("BENCH_EMERGENCY_RATE", "5"))  # per second during the wave
BATCH = int(os.environ.get("BENCH_BATCH", "5000"))  # events per POST /v1/events (intake takes up to 10,000)
PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0", "false")
# As `make up` runs them: each service as an urgent and a bulk process (bulk at lower CPU priority).
# BENCH_ROLES=0: one `--role all` process per service (as the tests run them), for comparison.
ROLES = os.environ.get("BENCH_ROLES", "1") not in ("", "0", "false") and not PROFILE
# BENCH_REPLICAS=2: two processes of each consumer role (as `make up REPLICAS=2`), for the scale model
# (docs/operations.md): on this machine both replicas share the same two cores.
REPLICAS = int(os.environ.get("BENCH_REPLICAS", "1")) if ROLES else 1
# Deactivated before the wave: the warm-up, and the people the emergencies are for (one each), enough
# for a wave as slow as 200 events/s.
WARM_PEOPLE = max(2000, int(EMERGENCY_RATE * N / 200))
POLL_S = 0.025  # emergency poll interval (one query for all open emergencies)
TICK_S = 0.5  # metrics / offsets sampling interval
PRODUCE_CHUNK = 10_000  # decisions stage: requests published (and acknowledged) per call, between progress updates
FACILITY = "3674R001"

REGISTRY_APPLIED = "pbi_registry_events_applied_total"
ELIGIBILITY_LAG = "pbi_eligibility_consumer_lag_records"


# --- helpers -----------------------------------------------------------------------------------


async def _nothing() -> None:
    return None


async def _uncancellable(work: Awaitable[None]) -> None:
    """Finish `work` even when the run is cancelled meanwhile (Ctrl-C arriving during the cleanup
    would otherwise leave the services, the database and the topics behind)."""
    task = asyncio.ensure_future(work)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
    task.result()


def save(results: dict[str, Any], complete: bool = False) -> None:
    if results.get("raw_ceiling_msgs_per_s"):
        results["vs_raw_ceiling"] = ratios(results)
        results["targets"] = targets(results)
    results["complete"] = complete
    results["written_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(results, indent=2, default=str))


def pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def shell(command: str) -> int:
    proc = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await proc.wait()


async def wait_for(
    check: Callable[[], Awaitable[bool]],
    limit_s: float,
    what: str,
    every: float = TICK_S,
    system: RunningSystem | None = None,
) -> float:
    """Until `check()`; fails at once if a process of `system` exited."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        if system is not None:
            system.check_running()
        if await check():
            return time.perf_counter() - start
        await asyncio.sleep(every)
    raise TimeoutError(f"{what}: not done after {limit_s:.0f} s")


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1), "max": round(max(values), 1)}


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=out,
        refresh_per_second=2,
    )


def machine() -> dict[str, Any]:
    freq = psutil.cpu_freq()
    return {
        "cores": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu_mhz": round(freq.max or freq.current) if freq else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        # the machine's speed in this hour (testkit.cpu.cpu_gauge_ms: higher is slower), again at the end
        "cpu_gauge_ms_at_start": cpu_gauge_ms(),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for p in ("faststream", "aiokafka", "sqlalchemy", "asyncpg", "fastapi", "uvicorn", "pydantic", "pyinstrument"):
        try:
            found[p] = version(p)
        except Exception:  # noqa: BLE001 - an optional package
            found[p] = None
    found["kafka"] = None
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "java":
                m = re.search(r"kafka[-_](?:2\.\d+-)?(\d+\.\d+\.\d+)", " ".join(proc.info["cmdline"] or []))
                if m:
                    found["kafka"] = m.group(1)
                    break
        except psutil.Error:
            continue
    if found["kafka"] is None:
        pom = ROOT / "deploy/local/kafka/pom.xml"
        m = re.search(r"<kafka.version>(.*?)</kafka.version>", pom.read_text()) if pom.exists() else None
        found["kafka"] = f"{m.group(1)} (deploy/local)" if m else None
    return found


# --- the system under test -------------------------------------------------------------------------


class Bench:
    def __init__(self, kafka: str, db_url: str, prefix: str, system: RunningSystem, client: httpx.AsyncClient) -> None:
        self.kafka, self.db_url, self.prefix, self.system, self.client = kafka, db_url, prefix, system, client
        self.writer = self.hospital = ""
        self.pg: asyncpg.Connection | None = None
        self.pg_emergencies: asyncpg.Connection | None = None  # the emergency poll's own connection
        # Reads the decisions topic for the whole run: when each request's first decision arrived.
        settings = EligibilitySettings(kafka_bootstrap_servers=kafka, topic_prefix=prefix, database_url=db_url)
        self.watcher = DecisionWatcher(settings)
        self._watching: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.pg = await asyncpg.connect(pg_dsn(self.db_url))
        self.pg_emergencies = await asyncpg.connect(pg_dsn(self.db_url))
        await self.watcher.consumer.start()
        self._watching = asyncio.create_task(self.watcher.run())

    async def stop(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)
            await self.watcher.consumer.stop()
        for conn in (self.pg, self.pg_emergencies):
            if conn is not None:
                await conn.close()

    def url(self, service: str) -> str:
        return self.system.url(service)

    def census(self) -> Census:
        assert self.pg is not None
        return Census(self.pg, self.kafka, self.prefix)

    def cpu_meter(self) -> CpuMeter:
        pids = {name: [p.pid] for name, p in self.system.processes.items()}
        # Kafka's java process and each postmaster (its backends are its children; other databases' too)
        return CpuMeter({**pids, **infrastructure_pids(), "bench": [os.getpid()]})

    async def backlog(self) -> dict[str, int]:
        """Wave-topic offsets each service's consumer group has not committed yet: work left over
        from an earlier stage that competes for the CPU with the next one."""
        progress = GroupProgress(self.kafka, self.prefix + PARTICIPANT_EVENTS.name)
        await progress.start()
        try:
            end = await progress.end_offsets()
            found = {}
            for service, group in wave_groups(self.prefix).items():
                committed = await progress.committed(group)
                found[service] = sum(max(0, end[tp] - committed.get(tp, 0)) for tp in end)
            return found
        finally:
            await progress.stop()

    async def metrics(self, service: str, *names: str) -> Samples:
        """The service's /metrics (only the metrics `names`, if given), summed over its processes (urgent and
        bulk roles count apart)."""
        total: Samples = {}
        for name in self.system.names_of(service):
            for key, value in (await scrape(self.client, self.system.url(name), names)).items():
                total[key] = total.get(key, 0.0) + value
        return total

    async def registry_applied(self, kind: str) -> float:
        return metric(await self.metrics("registry", REGISTRY_APPLIED), REGISTRY_APPLIED, type=kind)

    async def count(self, sql: str) -> int:
        assert self.pg is not None
        return int(await self.pg.fetchval(sql))

    async def participants(self) -> int:
        return await self.count("select count(*) from registry.participants")

    async def post_batches(self, bodies: list[bytes], on_done: Callable[[int], None], concurrency: int = 2) -> None:
        """POST pre-serialised {"events": [...]} bodies, two in flight (one validated while the other
        is published); a 503 (Kafka did not acknowledge) is retried after a second."""
        sem = asyncio.Semaphore(concurrency)
        headers = {"Authorization": f"Bearer {self.writer}", "Content-Type": "application/json"}

        async def one(body: bytes, size: int) -> None:
            async with sem:
                while True:
                    r = await self.client.post(self.url("intake") + "/v1/events", content=body, headers=headers)
                    if r.status_code == 202:
                        on_done(size)
                        return
                    if r.status_code != 503:
                        raise RuntimeError(f"intake answered {r.status_code}: {r.text[:300]}")
                    await asyncio.sleep(1)

        await asyncio.gather(*(one(b, b.count(b'"nik"')) for b in bodies))


async def started_bench(
    kafka: str, db_url: str, prefix: str, system: RunningSystem, client: httpx.AsyncClient
) -> Bench:
    """A Bench on the running system, with its API keys (a writer's, a hospital's for FACILITY), FACILITY
    registered, and its connections and decision watcher started (`Bench.stop` ends them)."""
    store = ApiKeyStore(make_engine(Settings(database_url=db_url)), Settings().api_key_pepper.get_secret_value())
    await store.migrate()
    b = Bench(kafka, db_url, prefix, system, client)
    b.writer = await store.issue("bench", ["events:write", "reactivations:write"])
    b.hospital = await store.issue("bench", ["emergency:write"], [FACILITY])
    await store.engine.dispose()
    await shell(f"DATABASE_URL='{db_url}' {PBI} facilities add {FACILITY} 'RSUD Kota Tangerang Selatan'")
    await b.start()
    return b


def wave_groups(prefix: str) -> dict[str, str]:
    """The consumer groups of the wave topic (participant-events), per service."""
    return {
        "eligibility": f"{prefix}eligibility-facts",
        "registry": f"{prefix}registry-{PARTICIPANT_EVENTS.name}",
        "notifier": f"{prefix}notifier-{PARTICIPANT_EVENTS.name}",
    }


def batch_bodies(events: list[dict[str, Any]], size: int) -> list[bytes]:
    return [json.dumps({"events": events[i : i + size]}).encode() for i in range(0, len(events), size)]


class Emergencies:
    """Hospital emergency requests at a steady rate; latency from the POST to the registry's row
    showing ACTIVE, watched with one PostgreSQL query per poll for all open requests. Split in
    three: intake (POST -> 202, published), eligibility (202 -> the decision on the decisions topic,
    by the record's timestamp), registry (decision -> the row ACTIVE)."""

    def __init__(self, bench: Bench, people: list[str], rate: float) -> None:
        self.bench, self.people, self.rate = bench, people, rate
        self.open: dict[str, dict[str, Any]] = {}
        self.done: list[dict[str, Any]] = []
        self.sent = self.failed = self.timed_out = 0
        self.polls = 0
        self.ran_out = False  # the wave outlasted the people prepared for emergencies
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def latencies_ms(self) -> list[float]:
        return [(r["active"] - r["post"]) * 1000 for r in self.done]

    async def post(self, nik: str) -> None:
        record: dict[str, Any] = {"post": time.perf_counter()}
        self.open[nik] = record
        admitted = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        try:
            r = await self.bench.client.post(
                self.bench.url("intake") + "/v1/hospital/emergency-reactivations",
                headers={"Authorization": f"Bearer {self.bench.hospital}"},
                json={
                    "nik": nik,
                    "facility_code": FACILITY,
                    "letter_no": f"IGD/{uuid.uuid4().hex[:8]}",
                    "admitted_at": admitted.isoformat(),
                },
            )
            ok = r.status_code == 202
            if ok:
                record["accepted"] = time.perf_counter()
                record["request_id"] = r.json()["request_id"]
        except httpx.HTTPError:
            ok = False
        if not ok:
            self.open.pop(nik, None)
            self.failed += 1

    async def send(self, stop: asyncio.Event, until_stopped: bool = True) -> None:
        """One request every 1/rate s on a fixed schedule, whatever the previous one's answer time,
        until `stop` is set (or, with until_stopped=False, until everyone had one)."""
        interval, next_at = 1 / self.rate, time.perf_counter()
        while not stop.is_set() and self.people:
            task = asyncio.create_task(self.post(self.people.pop()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self.sent += 1
            next_at += interval
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.perf_counter()))
            except TimeoutError:
                pass
        self.ran_out = until_stopped and not stop.is_set()
        await asyncio.gather(*self._tasks)

    async def poll(self, sending: asyncio.Task[None], limit_s: float = 120) -> None:
        """Until everything sent is ACTIVE (or older than limit_s)."""
        pg = self.bench.pg_emergencies
        assert pg is not None
        query = "select nik from registry.participants where nik = any($1::text[]) and status = 'ACTIVE'"
        while not sending.done() or self.open:
            if self.open:
                rows = await pg.fetch(query, list(self.open))
                now = time.perf_counter()
                self.polls += 1
                for row in rows:
                    record = self.open.pop(row["nik"], None)
                    if record is not None:
                        record["active"] = now
                        self.done.append(record)
                for nik, record in list(self.open.items()):
                    if now - record["post"] > limit_s:
                        del self.open[nik]
                        self.timed_out += 1
            await asyncio.sleep(POLL_S)

    def summary(self, decided: dict[str, float]) -> dict[str, Any]:
        """`decided`: request id -> when its first decision reached the decisions topic."""
        intake, eligibility, registry = [], [], []
        for r in self.done:
            if "accepted" not in r:
                continue
            intake.append((r["accepted"] - r["post"]) * 1000)
            at = decided.get(r.get("request_id", ""))
            if at is not None:
                eligibility.append((at - r["accepted"]) * 1000)
                registry.append((r["active"] - at) * 1000)
        return {
            "sent": self.sent,
            "active": len(self.done),
            "post_failed": self.failed,
            "not_active_within_120_s": self.timed_out,
            "rate_per_s": self.rate,
            "ran_out_of_people": self.ran_out,
            "poll_interval_ms": POLL_S * 1000,
            **{f"{k}_ms": v for k, v in percentiles(self.latencies_ms).items()},
            "breakdown_ms": {
                "intake_post_to_202": percentiles(intake),
                "eligibility_202_to_decision_on_topic": percentiles(eligibility),
                "registry_decision_to_active": percentiles(registry),
            },
        }


# --- stages ----------------------------------------------------------------------------------------


async def warm_up(b: Bench, warm: list[dict[str, Any]]) -> dict[str, Any]:
    """The emergencies' people deactivated and committed everywhere before the wave, then three
    emergencies (not counted): every path has run once."""
    started = time.perf_counter()
    before = await b.registry_applied("participant.deactivated")
    await b.post_batches(batch_bodies(warm, 1000), lambda _n: None)
    await wait_for(
        lambda: _at_least(b.registry_applied("participant.deactivated"), before + len(warm)),
        300,
        "warm-up (registry)",
        system=b.system,
    )
    progress = GroupProgress(b.kafka, b.prefix + PARTICIPANT_EVENTS.name)
    await progress.start()
    try:
        end = await progress.end_offsets()

        async def eligibility_caught_up() -> bool:
            return progress.behind(await progress.committed(f"{b.prefix}eligibility-facts"), end) == 0

        await wait_for(eligibility_caught_up, 300, "warm-up (eligibility)", system=b.system)
    finally:
        await progress.stop()
    probe = Emergencies(b, [e["nik"] for e in warm[-3:]], rate=10)
    stop = asyncio.Event()
    sending = asyncio.create_task(probe.send(stop, until_stopped=False))
    await probe.poll(sending, limit_s=60)
    return {
        "people": len(warm),
        "seconds": round(time.perf_counter() - started, 1),
        "emergencies": probe.summary(b.watcher.first),
    }


async def _at_least(value: Awaitable[float], target: float) -> bool:
    return (await value) >= target


async def wave(b: Bench, events: list[dict[str, Any]], emergency_people: list[str]) -> dict[str, Any]:
    """The wave POSTed to intake; done when the registry committed every row. Per stage: intake
    (the last 202), eligibility and notifier (their consumer group committed the whole topic),
    registry (its applied counter, then the rows in PostgreSQL)."""
    n = len(events)
    bodies = batch_bodies(events, BATCH)
    groups = wave_groups(b.prefix)
    progress = GroupProgress(b.kafka, b.prefix + PARTICIPANT_EVENTS.name)
    await progress.start()
    reg0 = await b.metrics("registry")
    applied0 = metric(reg0, REGISTRY_APPLIED, type="participant.deactivated")
    participants0 = await b.participants()
    census0 = await b.census().take()
    end0 = await progress.end_offsets()
    base = {g: await progress.committed(group) for g, group in groups.items()}
    posted = 0
    done: dict[str, float] = {}  # intake, registry (rows in PostgreSQL), registry_applied (metric)
    caught_up: dict[str, float] = {}  # consumer group -> when it had committed the whole wave
    timeline: list[dict[str, Any]] = []
    probe = Emergencies(b, list(emergency_people), EMERGENCY_RATE)
    stop_emergencies = asyncio.Event()
    cpu = b.cpu_meter()
    limit_s = max(600.0, n / 200)

    def on_posted(k: int) -> None:
        nonlocal posted
        posted += k

    with progress_bar() as bar:
        t_post = bar.add_task("intake: accepted", total=n, note="")
        t_elig = bar.add_task("eligibility: committed", total=n, note="")
        t_reg = bar.add_task("registry: applied", total=n, note="")
        t_em = bar.add_task("emergencies: ACTIVE", total=None, note="")
        cpu.begin()
        t0 = time.perf_counter()
        sending = asyncio.create_task(probe.send(stop_emergencies))
        polling = asyncio.create_task(probe.poll(sending))
        posting = asyncio.create_task(b.post_batches(bodies, on_posted))
        end_final: dict[Any, int] | None = None
        try:
            while "registry" not in done or "eligibility" not in caught_up:
                await asyncio.sleep(TICK_S)
                b.system.check_running()
                now = time.perf_counter() - t0
                if now > limit_s:
                    raise TimeoutError(f"wave not processed after {limit_s:.0f} s: {done} {caught_up}")
                if "registry" in done and now > done["registry"] + max(120.0, done["registry"]):
                    out.print("[yellow]eligibility did not catch up with the wave; its figure is left out[/yellow]")
                    break
                if posting.done() and "intake" not in done:
                    posting.result()  # raises what the posting raised
                    done["intake"] = time.perf_counter() - t0
                    end_final = await progress.end_offsets()
                reg = await b.metrics("registry", REGISTRY_APPLIED)
                elig = await b.metrics("eligibility", ELIGIBILITY_LAG)
                applied = metric(reg, REGISTRY_APPLIED, type="participant.deactivated") - applied0
                lag = metric(elig, ELIGIBILITY_LAG, group=groups["eligibility"])
                end = end_final or await progress.end_offsets()
                offsets: dict[str, int] = {}
                for g, group in groups.items():
                    committed = await progress.committed(group)
                    offsets[g] = sum(committed.values()) - sum(base[g].values())
                    if end_final is not None and g not in caught_up and progress.behind(committed, end_final) == 0:
                        caught_up[g] = now
                if "registry_applied" not in done and applied >= n:
                    done["registry_applied"] = now
                if "registry_applied" in done and "registry" not in done:
                    if await b.participants() >= participants0 + n:
                        done["registry"] = now
                topic_offsets = sum(end.values()) - sum(end0.values())
                timeline.append(
                    {
                        "t": round(now, 2),
                        "accepted": posted,
                        "registry_applied": int(applied),
                        "topic_offsets": topic_offsets,
                        **{f"{g}_offsets": v for g, v in offsets.items()},
                        "eligibility_lag_metric": lag,
                    }
                )
                # offsets count the transactions' commit markers too: shown as a share of the topic
                elig_share = offsets["eligibility"] / topic_offsets if topic_offsets else 0.0
                bar.update(t_post, completed=posted)
                bar.update(t_elig, completed=min(n, int(elig_share * posted)), note=f"lag metric {lag:,.0f}")
                bar.update(t_reg, completed=min(n, int(applied)))
                lat = probe.latencies_ms
                p50 = f"{statistics.median(lat):,.0f} ms" if lat else "-"
                bar.update(t_em, completed=len(lat), note=f"sent {probe.sent}, open {len(probe.open)}, p50 {p50}")
        finally:
            stop_emergencies.set()
            if not posting.done():
                posting.cancel()
            usage = cpu.end()
            await asyncio.gather(sending, polling, return_exceptions=True)
            await progress.stop()
    for task in (sending, polling):
        if not task.cancelled() and task.exception() is not None:
            raise RuntimeError("the emergency probe failed") from task.exception()
    reg1 = await b.metrics("registry")
    written = per_item(census0, await b.census().take(), n)
    stages = {
        "intake": _rate(n, done.get("intake")),
        "eligibility": _rate(n, caught_up.get("eligibility")),
        "registry": _rate(n, done.get("registry")),
        "notifier": _rate(n, caught_up.get("notifier")),
    }
    stages["intake"]["how"] = "first POST to the last 202 (intake answers once Kafka acknowledged)"
    stages["intake"]["peak_5s_events_per_s"] = _peak_rate(timeline, "accepted", 5)
    stages["eligibility"]["how"] = "its consumer group committed every offset of the wave"
    stages["registry"]["how"] = "pbi_registry_events_applied_total reached N and the rows are in PostgreSQL"
    stages["registry"]["applied_metric_at_s"] = done.get("registry_applied")
    stages["registry"]["group_caught_up_at_s"] = caught_up.get("registry")
    stages["registry"]["peak_5s_events_per_s"] = _peak_rate(timeline, "registry_applied", 5)
    stages["registry"].update(_batch_figures(reg0, reg1))
    stages["notifier"]["how"] = "its consumer group committed every offset of the wave (not waited for)"
    elapsed = done.get("registry")
    return {
        "events": n,
        "cpu_ms_per_event": per_event(usage, n),
        "written_per_event": written,
        "batch_size": BATCH,
        "seconds": round(elapsed, 2) if elapsed else None,
        "wave_events_per_s": round(n / elapsed, 1) if elapsed else None,
        "stages": stages,
        "cpu": usage,
        "emergencies": probe.summary(b.watcher.first),
        "timeline": timeline[:: max(1, len(timeline) // 120)],
    }


def per_event(usage: dict[str, Any], n: int) -> dict[str, Any]:
    """CPU milliseconds per item, per process, and the rate the machine's cores would allow at that
    cost if the run had them all (PostgreSQL's share includes other databases on a shared machine)."""
    ms = {k: round(1000 * v / n, 3) for k, v in usage["cpu_seconds"].items()}
    system = sum(v for k, v in ms.items() if k != "bench")
    cores = psutil.cpu_count() or 1
    return {
        **ms,
        "system_total": round(system, 3),
        "cpu_bound_ceiling_per_s": round(cores * 1000 / system) if system else None,
        # PostgreSQL's share by the process whose statements it ran (the rest: autovacuum, WAL, ended backends)
        "postgresql_by_client": {k: round(1000 * v / n, 3) for k, v in usage.get("postgresql_by_client", {}).items()},
    }


def ceiling_share(rate: float | None, ceiling: int) -> str:
    """The measured rate as a multiple of the CPU-bound ceiling. The ceiling moves with the machine's speed
    (a VM's changes from hour to hour) and the rate with it, so the multiple compares runs, and code, across
    such changes; above 1, the stage's figure ran ahead of consumers that caught up after it."""
    return f"; measured {rate:,.0f}/s, {rate / ceiling:.2f}x that" if rate else ""


def service_rss(peak: dict[str, float], others: bool = False) -> dict[str, float]:
    """Peak RSS per process of the services (`registry`, or `registry-urgent` and `registry-bulk`), or of the rest."""
    return {k: round(v, 1) for k, v in peak.items() if (k.partition("-")[0] in SERVICES) != others}


def _rate(n: int, seconds: float | None) -> dict[str, Any]:
    return {
        "done_at_s": round(seconds, 2) if seconds else None,
        "events_per_s": round(n / seconds, 1) if seconds else None,
    }


def _peak_rate(timeline: list[dict[str, Any]], key: str, window_s: float) -> float | None:
    best = None
    j = 0
    for i, point in enumerate(timeline):
        while timeline[j]["t"] < point["t"] - window_s:
            j += 1
        if i > j and point["t"] - timeline[j]["t"] >= window_s * 0.8:
            rate = (point[key] - timeline[j][key]) / (point["t"] - timeline[j]["t"])
            best = rate if best is None else max(best, rate)
    return round(best, 1) if best is not None else None


def _batch_figures(before: dict, after: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    def delta(name: str) -> float:
        return metric(after, name) - metric(before, name)

    batches = delta("pbi_registry_batch_seconds_count")
    return {
        "batches": int(batches),
        "mean_batch_events": round(delta("pbi_registry_batch_size_sum") / batches, 1) if batches else None,
        "mean_batch_ms": round(1000 * delta("pbi_registry_batch_seconds_sum") / batches, 1) if batches else None,
        "batch_seconds_total": round(delta("pbi_registry_batch_seconds_sum"), 2),
    }


async def decisions(b: Bench, niks: list[str]) -> dict[str, Any]:
    """Eligibility's throughput: requests produced straight to its topic (no HTTP in front), for
    people whose deactivation it already has, until every first decision is on the decisions topic."""
    n = len(niks)
    requests = [request(i, False).model_copy(update={"nik": nik}) for i, nik in enumerate(niks)]
    topic = b.prefix + REACTIVATION_REQUESTS.name
    # Through the project's own producer (whole record batches, as intake's and the outbox relays'): a
    # per-record send cost the bench twice the CPU, taken from the processes it measures.
    records = [Record.of(topic, r) for r in requests]
    backlog = await b.backlog()
    decided0 = await b.registry_applied("reactivation.decided")
    in_registry0 = await b.count(
        "select count(*) from registry.requests where path = 'REGULAR' and decided_at is not null"
    )
    watcher = b.watcher
    bulk0 = watcher.bulk
    producer = BatchPublisher({"bootstrap_servers": b.kafka}, max_batch_size=BATCH_BYTES)
    await producer.start()
    census0 = await b.census().take()
    cpu = b.cpu_meter()
    limit_s = max(600.0, n / 100)
    produced_s = on_topic_s = in_registry_s = None
    try:
        with progress_bar() as bar:
            t_prod = bar.add_task("requests produced", total=n, note="")
            t_dec = bar.add_task("eligibility: decided", total=n, note="")
            t_reg = bar.add_task("registry: decisions applied", total=n, note="")
            cpu.begin()
            t0 = time.perf_counter()
            for k in range(0, n, PRODUCE_CHUNK):
                await producer.publish(records[k : k + PRODUCE_CHUNK])
                bar.update(t_prod, completed=min(n, k + PRODUCE_CHUNK))
            produced_s = time.perf_counter() - t0
            bar.update(t_prod, completed=n)
            while in_registry_s is None:
                await asyncio.sleep(TICK_S)
                b.system.check_running()
                now = time.perf_counter() - t0
                if now > limit_s:
                    raise TimeoutError(f"decisions: {watcher.bulk - bulk0:,} of {n:,} after {limit_s:.0f} s")
                if on_topic_s is not None and now > on_topic_s + max(120.0, on_topic_s):
                    out.print("[yellow]the registry did not apply every decision; its figure is left out[/yellow]")
                    break
                if b._watching is not None and b._watching.done():
                    raise RuntimeError("the decisions topic reader stopped") from b._watching.exception()
                if on_topic_s is None and watcher.bulk - bulk0 >= n:
                    on_topic_s = max(watcher.first[str(r.request_id)] for r in requests) - t0
                applied = await b.registry_applied("reactivation.decided") - decided0
                if applied >= n:
                    sql = "select count(*) from registry.requests where path = 'REGULAR' and decided_at is not null"
                    if await b.count(sql) >= in_registry0 + n:
                        in_registry_s = now
                bar.update(t_dec, completed=min(n, watcher.bulk - bulk0))
                bar.update(t_reg, completed=min(n, int(applied)))
    finally:
        usage = cpu.end()
        await producer.stop()
    elig = await b.metrics("eligibility")
    written = per_item(census0, await b.census().take(), n)
    return {
        "requests": n,
        "written_per_decision": written,
        "produced_s": round(produced_s, 2) if produced_s else None,
        "on_decisions_topic_s": round(on_topic_s, 2) if on_topic_s else None,
        "decisions_per_s": round(n / on_topic_s, 1) if on_topic_s else None,
        "in_registry_s": round(in_registry_s, 2) if in_registry_s else None,
        "decisions_in_registry_per_s": round(n / in_registry_s, 1) if in_registry_s else None,
        "wave_backlog_at_start": backlog,
        "cpu_ms_per_decision": per_event(usage, n),
        "outcomes": {
            o: int(metric(elig, "pbi_eligibility_decisions_total", outcome=o, path="REGULAR"))
            for o in ("APPROVED", "PENDING", "REJECTED", "EXPIRED")
        },
        "cpu": usage,
    }


async def import_list(b: Bench) -> dict[str, Any]:
    """`pbi import deactivations` of the 20,990-row Tangerang Selatan list (CSV): the command's time
    (validated and published), then until the registry applied them."""
    rows = list(generate(1.0, seed=11).deactivation_rows())
    backlog = await b.backlog()
    before = await b.registry_applied("participant.deactivated")
    cpu = b.cpu_meter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tangsel.csv"
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        with progress_bar() as bar:
            task = bar.add_task("import: registry applied", total=len(rows), note="pbi import running")
            cpu.begin()
            start = time.perf_counter()
            cmd = f"DATABASE_URL='{b.db_url}' TOPIC_PREFIX='{b.prefix}' KAFKA_BOOTSTRAP_SERVERS='{b.kafka}' {PBI}"
            code = await shell(f"{cmd} import deactivations {path}")
            command_s = time.perf_counter() - start
            bar.update(task, note=f"command exited {code} after {command_s:.1f} s")
            settled_s = None
            if code == 0:
                while time.perf_counter() - start < 300:
                    applied = await b.registry_applied("participant.deactivated") - before
                    bar.update(task, completed=min(len(rows), int(applied)))
                    if applied >= len(rows) * 0.99:  # rows the importer rejects never arrive
                        settled_s = time.perf_counter() - start
                        break
                    await asyncio.sleep(TICK_S)
            usage = cpu.end()
    return {
        "rows": len(rows),
        "exit_code": code,
        "command_s": round(command_s, 2),
        "import_rows_per_s": round(len(rows) / command_s, 1) if code == 0 else None,
        "registry_applied_s": round(settled_s, 2) if settled_s else None,
        "wave_backlog_at_start": backlog,
        "cpu": usage,
    }


# --- the run ----------------------------------------------------------------------------------------


async def main() -> dict[str, Any]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    admin_db = os.environ.get("DATABASE_URL", LOCAL_DATABASE)
    decisions_n = min(DECISIONS_N, N)
    results: dict[str, Any] = {
        "complete": False,
        "BENCH_N": N,
        "BENCH_DECISIONS": decisions_n,
        "BENCH_EMERGENCY_RATE": EMERGENCY_RATE,
        "BENCH_ROLES": ROLES,
        "BENCH_REPLICAS": REPLICAS,
        "BENCH_BATCH": BATCH,
        "profile": PROFILE,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "stages": {},
    }
    if decisions_n < DECISIONS_N:
        out.print(f"[yellow]BENCH_DECISIONS capped at BENCH_N ({N:,}): requests go to people of the wave[/yellow]")
    save(results)

    out.print(f"[bold]1. warm-up and raw Kafka ceiling[/bold] ({N:,} messages)…")
    await raw_ceiling(kafka, 10_000)
    raw = await raw_ceiling(kafka, N)
    results["raw_ceiling_msgs_per_s"] = round(raw["raw_ceiling_msgs_per_s"], 1)
    results["stages"]["raw_ceiling"] = {k: round(v, 1) for k, v in raw.items()}
    save(results)

    out.print("[bold]2. starting the system[/bold]" + (" under pyinstrument" if PROFILE else "") + "…")
    events = wave_events(N, seed=2026)
    wave_niks = {e["nik"] for e in events}
    today = dt.date.today()
    warm = [
        e
        for e in wave_events(WARM_PEOPLE * 2, seed=99, exclude=wave_niks)
        if dt.date.fromisoformat(e["deactivated_on"]) > today - dt.timedelta(days=170)  # window still open
    ][:WARM_PEOPLE]
    db_name = f"pbi_bench_{uuid.uuid4().hex[:8]}"
    db_url = await create_database(admin_db, db_name)
    prefix = new_run_prefix("bench")
    settings = Settings(kafka_bootstrap_servers=kafka, topic_prefix=prefix)
    log_dir = ROOT / ".run" / "bench-logs" / prefix.rstrip(".")
    results["logs"] = str(log_dir)
    system: RunningSystem | None = None
    sampler = RssSampler({})
    b: Bench | None = None
    try:
        await ensure_topics(settings)
        env: dict[str, str | None] = {"KAFKA_PARTITIONS_OVERRIDE": None}
        system = (
            start_profiled_system(db_url, kafka, prefix, log_dir, env)
            if PROFILE
            else start_system(db_url, kafka, prefix, log_dir, env, roles=ROLES, replicas=REPLICAS)
        )
        sampler.processes = system.processes
        # The provider simulator stands in for WhatsApp's and Twilio's servers, which are not on this
        # machine in a real deployment: it gets the CPU last.
        psutil.Process(system.processes["simulator"].pid).nice(10)
        sampler.start()
        async with httpx.AsyncClient(timeout=120) as client:
            b = await started_bench(kafka, db_url, prefix, system, client)

            out.print(f"[bold]   warm-up[/bold]: {len(warm):,} people deactivated before the wave, 3 emergencies…")
            results["stages"]["warm_up"] = await warm_up(b, warm)
            save(results)

            out.print(
                f"[bold]3. wave[/bold]: {N:,} deactivations in POSTs of {BATCH:,}, "
                f"emergencies at {EMERGENCY_RATE:g}/s until it is processed…"
            )
            emergency_people = [e["nik"] for e in warm[:-3]]
            w = await wave(b, events, emergency_people)
            results["stages"]["wave"] = w
            results["wave_events_per_s"] = w["wave_events_per_s"]
            results["intake_publish_events_per_s"] = w["stages"]["intake"]["events_per_s"]
            results["eligibility_facts_events_per_s"] = w["stages"]["eligibility"]["events_per_s"]
            results["registry_events_per_s"] = w["stages"]["registry"]["events_per_s"]
            em = w["emergencies"]
            for q in ("p50", "p95", "p99", "max"):
                results[f"emergency_{q}_ms"] = em[f"{q}_ms"]
            results["peak_rss_mb"] = service_rss(sampler.peak)
            save(results)

            out.print(f"[bold]4. decisions[/bold]: {decisions_n:,} requests produced to the requests topic…")
            d = await decisions(b, [e["nik"] for e in events[:decisions_n]])
            results["stages"]["decisions"] = d
            results["decisions_per_s"] = d["decisions_per_s"]
            results["decisions_in_registry_per_s"] = d["decisions_in_registry_per_s"]
            results["peak_rss_mb"] = service_rss(sampler.peak)
            save(results)

            out.print("[bold]5. import[/bold]: the 20,990-row Tangerang Selatan list…")
            imp = await import_list(b)
            results["stages"]["import"] = imp
            results["import_rows_per_s"] = imp["import_rows_per_s"]
            save(results)
    finally:
        sampler.stop_flag.set()
        if sampler.is_alive():
            sampler.join(2)
        results["peak_rss_mb"] = service_rss(sampler.peak)
        results["peak_rss_mb_other"] = service_rss(sampler.peak, others=True)
        save(results)

        async def cleanup() -> None:
            steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                ("bench connections", b.stop if b is not None else _nothing),
                ("services", lambda: asyncio.to_thread(system.stop) if system is not None else _nothing()),
                ("database", lambda: drop_database(admin_db, db_name)),
                ("topics", lambda: delete_prefixed_topics(kafka, prefix)),
            ]
            for what, step in steps:
                try:
                    await step()
                except Exception as exc:  # noqa: BLE001 - clean up the rest anyway
                    out.print(f"[red]cleanup of the {what} failed: {exc!r}[/red]")

        await _uncancellable(cleanup())
    if PROFILE:
        results["profiles"] = str(PROFILE_DIR)
    results["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["cpu_gauge_ms_at_end"] = cpu_gauge_ms()
    save(results, complete=True)
    return results


RATE_KEYS = (
    "intake_publish_events_per_s",
    "eligibility_facts_events_per_s",
    "registry_events_per_s",
    "wave_events_per_s",
    "decisions_per_s",
    "decisions_in_registry_per_s",
    "import_rows_per_s",
)


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    ceiling = results.get("raw_ceiling_msgs_per_s")
    return {k: round(results[k] / ceiling, 4) if ceiling and results.get(k) else None for k in RATE_KEYS}


def targets(results: dict[str, Any]) -> dict[str, bool | None]:
    def at_least(key: str, limit: float) -> bool | None:
        value = results.get(key)
        return None if value is None else value >= limit

    p99 = results.get("emergency_p99_ms")
    rss = results.get("peak_rss_mb", {})
    return {
        "wave_events_per_s >= 3000": at_least("wave_events_per_s", 3000),
        "emergency_p99_ms < 1000": None if p99 is None else p99 < 1000,
        "decisions_per_s >= 3000": at_least("decisions_per_s", 3000),
        "import 20,990 rows < 10 s": at_least("import_rows_per_s", 2099),
        "every service < 300 MB RSS": all(v < 300 for v in rss.values()) if rss else None,
    }


def report(results: dict[str, Any]) -> None:
    ceiling = results.get("raw_ceiling_msgs_per_s")
    title = f"pbi-reactivation bench (BENCH_N={results['BENCH_N']:,}, decisions {results['BENCH_DECISIONS']:,})"
    if results.get("BENCH_REPLICAS", 1) > 1:
        title += f" with {results['BENCH_REPLICAS']} processes per consumer role"
    if results.get("profile"):
        title += " [profiled: figures are slower than normal]"
    table = Table(title=title, title_justify="left")
    for col in ("figure", "value", "vs raw ceiling", "target"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    rows: list[tuple[str, Any, str]] = [
        ("raw Kafka ceiling (msgs/s)", ceiling, ""),
        ("wave end to end (events/s)", results.get("wave_events_per_s"), ">= 3,000"),
        ("  intake publish (events/s)", results.get("intake_publish_events_per_s"), ""),
        ("  eligibility facts (events/s)", results.get("eligibility_facts_events_per_s"), ""),
        ("  registry committed (events/s)", results.get("registry_events_per_s"), ""),
        ("emergency p50 (ms)", results.get("emergency_p50_ms"), ""),
        ("emergency p95 (ms)", results.get("emergency_p95_ms"), ""),
        ("emergency p99 (ms)", results.get("emergency_p99_ms"), "< 1,000"),
        ("emergency max (ms)", results.get("emergency_max_ms"), ""),
        ("decisions (per s, on the topic)", results.get("decisions_per_s"), ">= 3,000"),
        ("  decisions in the registry (per s)", results.get("decisions_in_registry_per_s"), ""),
        ("import (rows/s)", results.get("import_rows_per_s"), "20,990 in < 10 s"),
    ]
    for name, value, target in rows:
        is_rate = "/s" in name or "per s" in name
        ratio = f"{value / ceiling:.1%}" if is_rate and value and ceiling else ""
        table.add_row(name, f"{value:,.0f}" if isinstance(value, int | float) else "n/a", ratio, target)
    for service, mb in results.get("peak_rss_mb", {}).items():
        table.add_row(f"peak RSS {service} (MB)", f"{mb:,.0f}", "", "< 300")
    out.print(table)
    em = results.get("stages", {}).get("wave", {}).get("emergencies")
    if em:
        out.print(
            f"emergencies during the wave: {em['sent']} sent, {em['active']} ACTIVE, "
            f"{em['not_active_within_120_s']} not ACTIVE within 120 s, {em['post_failed']} POSTs failed"
            + (
                " [yellow](ran out of people before the wave was processed)[/yellow]"
                if em.get("ran_out_of_people")
                else ""
            )
        )
        parts = em.get("breakdown_ms", {})
        if parts:
            out.print(
                "  p50 / p99 by segment: "
                + "; ".join(
                    f"{k.split('_')[0]} {v['p50'] or 0:,.0f} / {v['p99'] or 0:,.0f} ms" for k, v in parts.items()
                )
            )
    for stage, key, figure in (
        ("wave", "cpu_ms_per_event", "wave_events_per_s"),
        ("decisions", "cpu_ms_per_decision", "decisions_per_s"),
    ):
        cost = results.get("stages", {}).get(stage, {}).get(key)
        if cost and cost.get("cpu_bound_ceiling_per_s"):
            out.print(
                f"{stage}: the system spent {cost['system_total']:.2f} CPU ms per item: at most "
                f"{cost['cpu_bound_ceiling_per_s']:,}/s on this machine's cores if it had them all"
                + ceiling_share(results.get(figure), cost["cpu_bound_ceiling_per_s"])
            )
            if cost.get("postgresql_by_client"):
                clients = ", ".join(f"{k} {v:.3f}" for k, v in cost["postgresql_by_client"].items())
                out.print(f"  PostgreSQL's {cost['postgresql']:.3f} ms by client: {clients}")
    gauge = [results.get("machine", {}).get(f"cpu_gauge_ms_at_{when}") for when in ("start", "end")]
    if all(gauge):
        out.print(
            f"machine speed gauge (testkit.cpu.cpu_gauge_ms, higher is slower): {gauge[0]:.1f} ms at the start, "
            f"{gauge[1]:.1f} at the end: compare CPU per item across runs in its units"
        )
    for stage, key in (("wave", "written_per_event"), ("decisions", "written_per_decision")):
        w = results.get("stages", {}).get(stage, {}).get(key)
        if w:
            schemas = ", ".join(f"{k} {v:.2f}" for k, v in w["rows_by_schema"].items())
            topics = ", ".join(f"{k} {v:.2f}" for k, v in w["records_by_topic"].items())
            out.print(f"{stage}: {w['rows_per_item']:.2f} PostgreSQL rows written per item ({schemas})")
            out.print(f"  {w['records_per_item']:.2f} Kafka records per item ({topics})")
    for stage in ("wave", "decisions", "import"):
        usage = results.get("stages", {}).get(stage, {}).get("cpu")
        if usage:
            cores = ", ".join(f"{k} {v:.2f}" for k, v in sorted(usage["cores_used"].items(), key=lambda kv: -kv[1]))
            busy = usage["machine_busy_pct"]
            out.print(f"CPU during {stage} ({usage['seconds']:.0f} s, machine {busy}% busy): {cores} cores")
    if results.get("profiles"):
        out.print(f"profiles: {results['profiles']}")


if __name__ == "__main__":
    if "--report" in sys.argv[1:]:  # the table again, from the last (possibly cut-off) run's file
        res = json.loads(RESULTS.read_text())
        report(res)
        if not res.get("complete"):
            out.print(f"[yellow]{RESULTS} is from a run that did not finish[/yellow]")
        sys.exit(0)
    try:
        res = asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
    report(res)
    out.print(f"written {RESULTS}")

"""`make chaos`: run a wave with requests while something breaks, then compare what clients were
told (202s) with what the registry's history and the notifier's simulator hold.

"Lost" = an event acknowledged to a client that no participant history shows; "duplicated" = an
event id that appears twice in a history, or a request with more than one final decision.
Nothing is taken from the services' own counters. CHAOS_SCALE (default 1.0) sizes the wave;
`tests/e2e/test_chaos_reduced.py` runs the reduced version inside `make test`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from bench.run import wave_events
from services.registry.dashboard.kafka_health import KafkaHealth
from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.settings import Settings
from shared.topics import CATALOGUE
from tests.conftest import _create_database, _drop_database
from tests.e2e.system import RunningSystem, start_system
from tests.infra import LOCAL_DATABASE, LOCAL_KAFKA

ROOT = Path(__file__).resolve().parents[1]
out = Console()


@dataclass
class Outcome:
    name: str
    events: int
    lost: int
    duplicated: int
    dead_lettered: int
    recovery_s: float


@dataclass
class Harness:
    system: RunningSystem
    writer: str
    reader: str
    kafka: str
    prefix: str

    async def post_wave(self, events: list[dict], size: int = 500) -> list[str]:
        """Posts batches, retrying 503s as a real client would; returns the acknowledged event ids."""
        acked: list[str] = []
        async with httpx.AsyncClient(timeout=60) as client:
            for i in range(0, len(events), size):
                batch = events[i : i + size]
                for _ in range(120):
                    try:
                        r = await client.post(
                            self.system.url("intake") + "/v1/events",
                            json={"events": batch},
                            headers={"Authorization": f"Bearer {self.writer}"},
                        )
                    except httpx.HTTPError:
                        await asyncio.sleep(0.5)
                        continue
                    if r.status_code == 202:
                        acked.extend(r.json()["event_ids"])
                        break
                    await asyncio.sleep(0.5)
        return acked

    async def histories(self, niks: list[str]) -> dict[str, list[dict]]:
        result: dict[str, list[dict]] = {}
        sem = asyncio.Semaphore(16)
        async with httpx.AsyncClient(timeout=30) as client:

            async def one(nik: str) -> None:
                async with sem:
                    r = await client.get(
                        self.system.url("registry") + f"/v1/participants/{nik}",
                        headers={"Authorization": f"Bearer {self.reader}"},
                    )
                    result[nik] = r.json().get("history", []) if r.status_code == 200 else []

            await asyncio.gather(*(one(n) for n in niks))
        return result


def count_loss_and_duplicates(acked: list[str], histories: dict[str, list[dict]]) -> tuple[int, int]:
    seen = Counter(str(h.get("event_id")) for hist in histories.values() for h in hist)
    lost = sum(1 for event_id in acked if seen[event_id] == 0)
    duplicated = sum(1 for event_id in acked if seen[event_id] > 1)
    return lost, duplicated


async def converge(h: Harness, events: list[dict], acked: list[str], limit_s: float) -> tuple[int, int, float]:
    """Waits until every acknowledged event shows up (or the limit passes); returns (lost, dup, seconds)."""
    start = time.monotonic()
    niks = sorted({e["nik"] for e in events})
    lost = duplicated = len(acked)
    while time.monotonic() - start < limit_s:
        lost, duplicated = count_loss_and_duplicates(acked, await h.histories(niks))
        if lost == 0:
            break
        await asyncio.sleep(1)
    return lost, duplicated, time.monotonic() - start


async def scenario_kill(h: Harness, service: str, n: int) -> Outcome:
    events = wave_events(n, seed=hash(service) % 10_000)
    for e in events:
        e["event_id"] = str(uuid.uuid4())
    posting = asyncio.create_task(h.post_wave(events))
    await asyncio.sleep(1.0)
    h.system.kill(service, signal.SIGKILL)
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    await asyncio.to_thread(h.system.start, service)
    acked = await posting
    lost, dup, _ = await converge(h, events, acked, 180)
    return Outcome(f"SIGKILL {service}", len(acked), lost, dup, 0, round(time.monotonic() - t0, 1))


async def scenario_poison(h: Harness, n: int) -> Outcome:
    """Bytes that are not JSON, an unknown type and a schema violation on every input topic."""
    producer = AIOKafkaProducer(bootstrap_servers=h.kafka, acks="all", enable_idempotence=True)
    await producer.start()
    poisons = 0
    try:
        for spec in CATALOGUE:
            topic = h.prefix + spec.name
            for value in (
                b"\x00not json",
                json.dumps({"type": "participant.teleported", "nik": "x"}).encode(),
                json.dumps({"type": spec.event_types[0], "nik": "3674015708900000"}).encode(),
            ):
                await producer.send_and_wait(topic, value, key=b"poison")
                poisons += 1
    finally:
        await producer.stop()
    events = wave_events(n, seed=4242)
    t0 = time.monotonic()
    acked = await h.post_wave(events)
    lost, dup, _ = await converge(h, events, acked, 120)
    # Measured on the dead-letter topics: every consumer group that meets a poison record parks it.
    dead = sum((await KafkaHealth(h.kafka, h.prefix, cache_s=0).read())["dead_letters"].values())
    out.print(f"  {poisons} poison records injected, {dead} dead-letter records written")
    return Outcome("poison messages", len(acked), lost, dup, dead, round(time.monotonic() - t0, 1))


async def scenario_restart_infra(h: Harness, which: str, n: int) -> Outcome:
    script = ROOT / "deploy" / "local" / ("kafka.sh" if which == "kafka" else "postgres.sh")
    events = wave_events(n, seed=len(which) * 31)
    posting = asyncio.create_task(h.post_wave(events))
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    await asyncio.to_thread(subprocess.run, ["bash", str(script), "stop"], check=True, capture_output=True)
    await asyncio.sleep(2)
    await asyncio.to_thread(subprocess.run, ["bash", str(script), "start"], check=True, capture_output=True)
    acked = await posting
    lost, dup, _ = await converge(h, events, acked, 240)
    return Outcome(f"restart {which}", len(acked), lost, dup, 0, round(time.monotonic() - t0, 1))


async def run(scale: float = 1.0, scenarios: list[str] | None = None) -> list[Outcome]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    admin_db = os.environ.get("DATABASE_URL", LOCAL_DATABASE)
    n = max(50, int(2000 * scale))
    db_name = f"pbi_chaos_{uuid.uuid4().hex[:8]}"
    db_url = await _create_database(admin_db, db_name)
    prefix = f"chaos{uuid.uuid4().hex[:6]}."
    await ensure_topics(Settings(kafka_bootstrap_servers=kafka, topic_prefix=prefix, kafka_partitions_override=3))
    system = start_system(db_url, kafka, prefix, ROOT / ".run" / "chaos-logs")
    try:
        store = ApiKeyStore(make_engine(Settings(database_url=db_url)), Settings().api_key_pepper.get_secret_value())
        await store.migrate()
        h = Harness(
            system,
            await store.issue("chaos", ["events:write", "reactivations:write"]),
            await store.issue("chaos", ["participants:read", "dashboard:read"]),
            kafka,
            prefix,
        )
        await store.engine.dispose()
        plan: dict[str, Callable[[], Awaitable[Outcome]]] = {
            "kill-intake": lambda: scenario_kill(h, "intake", n),
            "kill-eligibility": lambda: scenario_kill(h, "eligibility", n),
            "kill-registry": lambda: scenario_kill(h, "registry", n),
            "kill-notifier": lambda: scenario_kill(h, "notifier", n),
            "poison": lambda: scenario_poison(h, n),
            "restart-kafka": lambda: scenario_restart_infra(h, "kafka", n),
            "restart-postgres": lambda: scenario_restart_infra(h, "postgres", n),
        }
        results = []
        for name in scenarios or list(plan):
            out.print(f"[bold]scenario[/bold] {name}…")
            results.append(await plan[name]())
        return results
    finally:
        system.stop()
        await _drop_database(admin_db, db_name)


def report(results: list[Outcome]) -> None:
    table = Table(title="chaos", title_justify="left")
    for col in ("scenario", "events", "lost", "duplicated", "dead-lettered", "recovery (s)"):
        table.add_column(col)
    for r in results:
        table.add_row(r.name, str(r.events), str(r.lost), str(r.duplicated), str(r.dead_lettered), str(r.recovery_s))
    out.print(table)


def results_json(results: list[Outcome]) -> dict[str, Any]:
    return {
        "scenarios": [
            {
                "name": r.name,
                "events": r.events,
                "lost": r.lost,
                "duplicated": r.duplicated,
                "dead_lettered": r.dead_lettered,
                "recovery_s": r.recovery_s,
            }
            for r in results
        ]
    }


if __name__ == "__main__":
    outcomes = asyncio.run(run(float(os.environ.get("CHAOS_SCALE", "1.0"))))
    (ROOT / "chaos-results.json").write_text(json.dumps(results_json(outcomes), indent=2))
    report(outcomes)

"""`make chaos`, second part: the faults of a replicated Kafka cluster and of replicated services, on the local
3-node cluster (deploy/local/kafka.sh with KAFKA_BROKERS=3: replication 3, min.insync.replicas 2, producers on
acks=all and idempotent), with the same accounting as bench/chaos.py (testkit.chaos: acknowledged events and
requests against the registry's histories, intake's answers and the provider's records).

- `leader`: kill -9 the broker leading the busiest partitions, again and again while the wave is posted and
  consumed (each time the node comes back and the replicas are in sync before the next kill);
- `replica-registry`, `replica-eligibility`: a second process of the service joins the same consumer groups;
  mid-batch (the wave's consumer group has committed part of it and has more to read) one of the two is
  killed with SIGKILL and not restarted: the other takes its partitions over and finishes the wave;
- `brokers-down`: two of the three brokers killed one second into the wave, for OUTAGE_S: intake must answer
  503 (never 202) to everything sent meanwhile, and accept again once they are back.

The cluster is started when it is not running (and stopped again at the end); the single broker on 9092 is
never touched. CHAOS_SCALE sizes the waves (1.0: 21,000 people, about 25,000 events, each scenario; the four
together over 100,000 events); CHAOS_SCENARIOS picks among these names. Results are merged into
chaos-results.json (scenarios of the same name replaced). Details: docs/chaos.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.chaos import report
from shared.process import start_owned
from shared.topics import PARTICIPANT_EVENTS
from testkit.chaos import Acked, Tally, Wave, plan_wave
from testkit.chaos_results import merge_results
from testkit.chaos_scenarios import Harness, Outcome, Scenario, out, run_scenarios
from testkit.infra import LOCAL_DATABASE
from testkit.system import PBI, ROOT, free_port

KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
RESULTS = ROOT / "chaos-results.json"
PEOPLE = 21_000  # per scenario at CHAOS_SCALE 1.0: 25,200 events and 6,300 requests
SEEDS = {"leader": 808, "replica-registry": 909, "replica-eligibility": 1010, "brokers-down": 1111, "probe": 1212}
KILLS = 3  # leaders killed per wave at full scale (2 when reduced)
DOWN_S = 5.0  # a killed leader stays down this long: its partitions get new leaders meanwhile
# The notifier sends as fast as the simulator takes it: these runs test delivery, not the provider contract.
PROVIDER_RATE_PER_S = "500"
# The notifier waits this long for the simulator's answer (services/notifier default 10 s). On the shared
# machine at load 50-60 the simulator answered after more than 10 s: each such send was ambiguous, its
# lookup 20 s later could not find a request the simulator had not yet read, and the message was sent again
# (40 duplicates in replica-eligibility, 2026-11-30). Provider slowness is bench.chaos's `provider` scenario's
# subject; here the faults are the cluster's and the replicas'.
PROVIDER_TIMEOUT_S = "60"


def people(h: Harness) -> int:
    return max(50, int(PEOPLE * h.scale))


def limit_s(n: int) -> float:
    """How long a scenario may take to catch up after its fault: the wave's own processing time on a shared
    2-core machine with everything on it (about 25 people a second end to end, the provider's messages
    included), and 4 minutes for the fault. CHAOS_LIMIT_S sets it: on a machine busy with other work the
    notifier's backlog takes longer (2026-11-30, load 20-40: 16,600 of 28,500 messages in 18 minutes)."""
    return float(os.environ.get("CHAOS_LIMIT_S") or 240 + n / 25)


async def settle(h: Harness, wave: Wave, acked: Acked, since: float, n: int) -> tuple[Tally, float]:
    """Harness.settle, then, when it saw everything in time but its last count misses some, up to two more
    counts: a history once seen cannot lose an entry, while a read that timed out on the busy machine (no
    answer: counted as missing) can. The first count is kept in the detail (`first_count`)."""
    tally, recovery = await h.settle(wave, acked, since, limit_s(n))
    first = tally
    for _ in range(2):
        if not (tally.lost and tally.caught_up_in_time):
            break
        await asyncio.sleep(5)
        again = await h.recount(wave, acked, tally.non_urgent_checked)
        again.caught_up_in_time = True
        tally = again if again.lost + again.duplicated < tally.lost + tally.duplicated else tally
    if tally is not first:
        tally.examples.append(f"first count: {first.lost} lost, {first.duplicated} duplicated ({first.examples[:2]})")
    return tally, recovery


# ---------------------------------------------------------------------------------------------------------------
# The local cluster (deploy/local/kafka.sh with KAFKA_BROKERS=3)


def cluster_env() -> dict[str, str]:
    """kafka.sh's environment: the cluster, and a node's restart allowed 10 minutes (on the shared machine at
    load 40 a restart took over 120 s, kafka.sh's default, and stopped the 11:34 run of 2026-11-30)."""
    return {
        **os.environ,
        "KAFKA_BROKERS": os.environ.get("CHAOS_KAFKA_BROKERS", "3"),
        "PBI_KAFKA_NODE_START_S": os.environ.get("PBI_KAFKA_NODE_START_S", "600"),
    }


async def kafka_sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = await asyncio.to_thread(
        subprocess.run, ["bash", str(KAFKA_SH), *args], env=cluster_env(), capture_output=True, text=True
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"kafka.sh {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


async def busiest_leader(h: Harness) -> tuple[int, list[str]]:
    """The broker leading most of the three busiest partitions of the run's topics (most records), and those."""
    admin = AIOKafkaAdminClient(bootstrap_servers=h.kafka, request_timeout_ms=10_000)
    consumer = AIOKafkaConsumer(bootstrap_servers=h.kafka, request_timeout_ms=10_000)
    await admin.start()
    await consumer.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(h.prefix) and not t.endswith(".dlq")]
        leaders = {
            TopicPartition(d["topic"], p["partition"]): p["leader"]
            for d in await admin.describe_topics(topics)
            for p in d["partitions"]
        }
        ends = await consumer.end_offsets(list(leaders))
        busiest = sorted(leaders, key=lambda tp: -ends[tp])[:3]
        votes = Counter(leaders[tp] for tp in busiest if leaders[tp] >= 0)
        node = votes.most_common(1)[0][0] if votes else 1
        return node, [f"{tp.topic.removeprefix(h.prefix)}[{tp.partition}]" for tp in busiest]
    finally:
        await consumer.stop()
        await admin.close()


async def wait_in_sync(h: Harness, replicas: int = 3, timeout_s: float = 600) -> float:
    """Until every partition of the run's topics has all its replicas in sync again; returns the seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        admin = AIOKafkaAdminClient(bootstrap_servers=h.kafka, request_timeout_ms=10_000)
        try:
            await admin.start()
            topics = [t for t in await admin.list_topics() if t.startswith(h.prefix)]
            partitions = [p for d in await admin.describe_topics(topics) for p in d["partitions"]]
            if partitions and all(len(p["isr"]) >= replicas for p in partitions):
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - a node still starting: ask again
            pass
        finally:
            await admin.close()
        await asyncio.sleep(1)
    raise RuntimeError(f"replicas not back in sync within {timeout_s:.0f} s")


# ---------------------------------------------------------------------------------------------------------------
# Scenarios


async def scenario_leader(h: Harness, kills: int) -> Outcome:
    """kill -9 the leader of the busiest partitions `kills` times while the wave is posted and consumed."""
    n = people(h)
    wave = plan_wave(n, SEEDS["leader"], h.used)
    dead0 = await h.dead_letters()
    posting = asyncio.create_task(h.post(wave))
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    log: list[dict[str, Any]] = []
    for _ in range(kills):
        node, busiest = await busiest_leader(h)
        at = time.monotonic() - t0
        await kafka_sh("node-kill", str(node))
        await asyncio.sleep(DOWN_S)
        await kafka_sh("node-start", str(node))
        in_sync = await wait_in_sync(h)
        log.append({"node": node, "at_s": round(at, 1), "busiest": busiest, "in_sync_after_s": round(in_sync, 1)})
        out.print(f"  killed node {node} (leader of {', '.join(busiest)}) at {at:.0f} s; in sync {in_sync:.0f} s later")
    acked = await posting
    tally, recovery = await settle(h, wave, acked, t0, n)
    o = h.outcome(f"leader: kill -9 the busiest partitions' leader x{kills}", wave, acked, tally, 0, recovery)
    o.dead_lettered = await h.dead_letters() - dead0
    o.detail["kills"] = log
    return o


def start_replica(h: Harness, service: str) -> str:
    """A second process of `service` (same consumer groups, another port), tracked with the system's own so
    that it is stopped with them. The same `pbi run <service>` the runner starts, and as the runner's it dies
    with this process however that ends (started here from an asyncio.to_thread worker: start_owned forks it on
    a thread that lasts)."""
    name = f"{service}-2"
    h.system.ports[name] = free_port()
    log = (h.system.log_dir / f"{name}.log").open("ab")
    h.system.processes[name] = start_owned(
        [PBI, "run", service],
        env={**h.system.env, "HTTP_PORT": str(h.system.ports[name])},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
    h.system.wait_ready(name)
    return name


class WaveGroup:
    """The service's consumer group(s) of the wave topic: members, committed offsets and lag (clients kept open:
    the scenario looks every half second)."""

    def __init__(self, h: Harness, service: str) -> None:
        self.h, self.service, self.groups = h, service, list[str]()
        self.topic = h.prefix + PARTICIPANT_EVENTS.name
        self.admin = AIOKafkaAdminClient(bootstrap_servers=h.kafka)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=h.kafka, enable_auto_commit=False)

    async def __aenter__(self) -> WaveGroup:
        await self.admin.start()
        await self.consumer.start()
        # The groups that committed offsets on the wave topic (each service names its groups its own way);
        # before any has, the names that say so.
        mine = [
            g for g, _ in await self.admin.list_consumer_groups() if g.startswith(f"{self.h.prefix}{self.service}-")
        ]
        for group in mine:
            if any(tp.topic == self.topic for tp in await self.admin.list_consumer_group_offsets(group)):
                self.groups.append(group)
        self.groups = self.groups or [g for g in mine if "participant" in g or "facts" in g]
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def members(self) -> int:
        found = await self.admin.describe_consumer_groups(self.groups) if self.groups else []
        return sum(len(g["members"]) for r in found for g in r.to_object()["groups"])

    async def progress(self) -> dict[str, int]:
        """Offsets committed on the wave topic (summed over its partitions) and records still to read."""
        committed, lag = 0, 0
        for group in self.groups:
            offsets = {tp: m.offset for tp, m in (await self.admin.list_consumer_group_offsets(group)).items()}
            mine = [tp for tp in offsets if tp.topic == self.topic and offsets[tp] >= 0]
            ends = await self.consumer.end_offsets(mine) if mine else {}
            committed += sum(offsets[tp] for tp in mine)
            lag += sum(max(0, ends[tp] - offsets[tp]) for tp in mine)
        return {"committed": committed, "lag": lag}


async def scenario_replica(h: Harness, service: str) -> Outcome:
    """Two processes of `service` share the consumer groups; mid-batch one is killed (SIGKILL, process group)
    and stays dead: the other one must take its partitions over and finish the wave alone."""
    n = people(h)
    wave = plan_wave(n, SEEDS[f"replica-{service}"], h.used)
    dead0 = await h.dead_letters()
    async with WaveGroup(h, service) as group:
        alone = await group.members()
        replica = await asyncio.to_thread(start_replica, h, service)
        for _ in range(120):  # both processes in every group (a rebalance); go on after two minutes
            if await group.members() >= 2 * alone:
                break
            await asyncio.sleep(1)
        joined = await group.members()
        before = await group.progress()
        posting = asyncio.create_task(h.post(wave))
        # Mid-batch: the wave's group has committed part of the wave and has more to read. A small wave may
        # be read between two looks: then the kill comes while records wait (at worst right after the wave).
        waiting_since, deadline = time.monotonic() + 1e9, time.monotonic() + 300
        while time.monotonic() < deadline:
            now = await group.progress()
            progressed = now["committed"] > before["committed"]
            if now["lag"] > 0 and (progressed or time.monotonic() - waiting_since > 3):
                break
            if now["lag"] > 0:
                waiting_since = min(waiting_since, time.monotonic())
            if posting.done() and now["lag"] == 0 and progressed:
                break
            await asyncio.sleep(0.5)
    # The registry's HTTP reads are the harness's: the replica dies there; for eligibility the first process.
    victim = replica if service == "registry" else service
    t0 = time.monotonic()
    await asyncio.to_thread(h.system.kill, victim, signal.SIGKILL)
    out.print(
        f"  {service}: {joined} group members with the replica (alone {alone}); killed {victim} with "
        f"{now['committed'] - before['committed']} records committed and {now['lag']} behind"
    )
    acked = await posting
    tally, recovery = await settle(h, wave, acked, t0, n)
    o = h.outcome(f"replica: SIGKILL one of two {service} processes", wave, acked, tally, 0, recovery)
    o.dead_lettered = await h.dead_letters() - dead0
    o.detail |= {"members_alone": alone, "members_with_replica": joined, "killed": victim}
    o.detail |= {"committed_at_kill": now["committed"] - before["committed"], "lag_at_kill": now["lag"]}
    o.detail["mid_batch"] = now["lag"] > 0 and now["committed"] > before["committed"]
    return o


async def probe(h: Harness, batch: list[dict[str, Any]], acked: Acked, answers: list[tuple[float, str]]) -> None:
    """POST `batch` until intake accepts it, noting every answer (seconds since the epoch of the answer's request)."""
    headers = {"Authorization": f"Bearer {h.writer}"}
    async with httpx.AsyncClient(timeout=120) as client:
        while True:
            sent = time.time()
            try:
                r = await client.post(h.system.url("intake") + "/v1/events", json={"events": batch}, headers=headers)
                answers.append((sent, str(r.status_code)))
            except httpx.HTTPError as exc:
                answers.append((sent, type(exc).__name__))
                await asyncio.sleep(0.5)
                continue
            if r.status_code == 202:
                for event, event_id in zip(batch, r.json()["event_ids"], strict=True):
                    acked.events[str(event_id)] = event["nik"]
                return
            await asyncio.sleep(0.5)


async def scenario_brokers_down(h: Harness, outage_s: float) -> Outcome:
    """Two of three brokers killed one second into the wave, back `outage_s` later. Meanwhile probes post
    events (one alone, and a batch of ten: intake's two publishing paths): every answer to a request sent
    while both were dead must be 503; once they are back the probes' events are accepted."""
    n = people(h)
    wave = plan_wave(n, SEEDS["brokers-down"], h.used)
    spare = plan_wave(11, SEEDS["probe"], h.used)
    deactivations = [e for e in spare.events if e["type"] == "participant.deactivated"]
    dead0 = await h.dead_letters()
    posting = asyncio.create_task(h.post(wave))
    await asyncio.sleep(1.0)
    survivor, _ = await busiest_leader(h)  # the busiest partitions' leader survives: the others die
    down = [node for node in (1, 2, 3) if node != survivor]
    t0 = time.monotonic()
    await asyncio.gather(*(kafka_sh("node-kill", str(node)) for node in down))
    dead_at = time.time()
    probed, answers = Acked(), list[tuple[float, str]]()
    probes = [asyncio.create_task(probe(h, b, probed, answers)) for b in (deactivations[:1], deactivations[1:])]
    await asyncio.sleep(outage_s)
    back_at = time.time()
    await asyncio.gather(*(kafka_sh("node-start", str(node)) for node in down))
    returned_at = time.time()
    await asyncio.gather(*probes)
    accepted_again_s = max(t for t, a in answers if a == "202") - returned_at
    during = Counter(a for t, a in answers if dead_at <= t < back_at)
    out.print(
        f"  nodes {down} down {returned_at - dead_at:.0f} s; intake's answers meanwhile: {dict(during)}; "
        f"probes accepted {max(0.0, accepted_again_s):.1f} s after the nodes were back"
    )
    acked = await posting
    both = Wave(wave.people | spare.people, wave.events + deactivations)
    everything = Acked(acked.events | probed.events, acked.requests)
    tally, recovery = await settle(h, both, everything, t0, n)
    o = h.outcome("brokers-down: 2 of 3 brokers killed", both, everything, tally, 0, recovery)
    o.dead_lettered = await h.dead_letters() - dead0
    o.detail |= {"nodes_down": down, "outage_s": round(returned_at - dead_at, 1), "answers_while_down": dict(during)}
    o.detail |= {"accepted_while_down": during.get("202", 0), "accepted_again_after_s": round(accepted_again_s, 1)}
    if during.get("202", 0) or not during.get("503"):
        out.print(f"  [red]brokers-down: intake answered {dict(during)} while two brokers were down[/red]")
    return o


async def rows_written(h: Harness) -> int:
    """Rows inserted, updated and deleted in the run's database so far (every service's schema)."""
    engine = create_async_engine(h.system.env["DATABASE_URL"])
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text(ROWS_WRITTEN)) or 0)
    finally:
        await engine.dispose()


ROWS_WRITTEN = (
    "select tup_inserted + tup_updated + tup_deleted from pg_stat_database where datname = current_database()"
)


def measured(scenario: Scenario) -> Scenario:
    """The scenario, with the PostgreSQL rows it made the system write (per acknowledged event) in its detail
    (an input of the capacity model, docs/operations.md), its outcome printed and written to
    chaos-results.json at once (a long run stopped later keeps it; the end-of-run count may still change it)."""

    async def run(h: Harness, n: int) -> Outcome:
        before, started = await rows_written(h), time.monotonic()
        o = await scenario(h, n)
        await asyncio.sleep(2)  # PostgreSQL publishes a backend's counts within a second of its transaction
        rows = await rows_written(h) - before
        o.detail |= {"rows_written": rows, "rows_per_event": round(rows / max(1, o.events), 2)}
        o.detail["scenario_s"] = round(time.monotonic() - started)
        out.print(f"  {o.name}: {o.events} events, {o.lost} lost, {o.duplicated} duplicated, recovery {o.recovery_s} s")
        RESULTS.write_text(json.dumps(merge_results(RESULTS, [o]), indent=2) + "\n")
        return o

    return run


CLUSTER_SCENARIOS: dict[str, Scenario] = {
    "leader": measured(lambda h, _: scenario_leader(h, KILLS if h.scale >= 0.5 else 2)),
    "replica-registry": measured(lambda h, _: scenario_replica(h, "registry")),
    "replica-eligibility": measured(lambda h, _: scenario_replica(h, "eligibility")),
    "brokers-down": measured(lambda h, _: scenario_brokers_down(h, 30 if h.scale >= 0.5 else 20)),
}


# ---------------------------------------------------------------------------------------------------------------
# Running


async def run(scale: float, chosen: list[str]) -> list[Outcome]:
    started_here = (await kafka_sh("status", check=False)).returncode != 0
    if started_here:
        out.print("starting the local 3-node Kafka cluster (deploy/local/kafka.sh, KAFKA_BROKERS=3)")
        await kafka_sh("start")
    try:
        kafka = (await kafka_sh("bootstrap")).stdout.strip()
        os.environ.setdefault("PROVIDER_RATE_PER_S", PROVIDER_RATE_PER_S)
        os.environ.setdefault("PROVIDER_TIMEOUT_S", PROVIDER_TIMEOUT_S)
        return await run_scenarios(
            kafka, os.environ.get("DATABASE_URL", LOCAL_DATABASE), scale, chosen, CLUSTER_SCENARIOS
        )
    finally:
        await kafka_sh("start", check=False)  # every node up again, whatever a scenario left
        if started_here and not os.environ.get("CHAOS_KEEP_CLUSTER"):
            await kafka_sh("stop", check=False)


if __name__ == "__main__":
    wanted = [s.strip() for s in os.environ.get("CHAOS_SCENARIOS", "").split(",") if s.strip()]
    chosen = [s for s in wanted if s in CLUSTER_SCENARIOS] if wanted else list(CLUSTER_SCENARIOS)
    if not chosen:
        out.print("no cluster scenario in CHAOS_SCENARIOS: nothing to run on the 3-node cluster")
        raise SystemExit(0)
    outcomes = asyncio.run(run(float(os.environ.get("CHAOS_SCALE", "1.0")), chosen))
    RESULTS.write_text(json.dumps(merge_results(RESULTS, outcomes), indent=2) + "\n")
    report(outcomes)
    total = sum(o.events for o in outcomes)
    out.print(f"{total:,} acknowledged events on the 3-node cluster across {len(outcomes)} scenarios")

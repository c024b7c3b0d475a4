"""The chaos scenarios' harness: the running system, a careful client posting a chaos wave, reading
what the registry, intake and the provider hold until it is all there (counted by testkit.chaos), and the
scenarios that need nothing but the system itself (baseline, SIGKILL of a service, poison records).
`make chaos` (bench/chaos.py) adds the scenarios that break the infrastructure or the provider;
`tests/e2e/test_chaos_reduced.py` runs a reduced set inside `make test`. Details: docs/chaos.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console

from services.registry.dashboard.kafka_health import KafkaHealth
from shared.kafka import HEADER_GROUP, HEADER_ORIGIN, HEADER_REASON, ensure_topics
from shared.settings import Settings
from shared.topics import CATALOGUE
from testkit.chaos import FACILITY, Acked, Person, Tally, Wave, assess, daytime, hms, plan_wave, request_body
from testkit.infra import create_database, delete_prefixed_topics, drop_database, new_run_prefix
from testkit.keys import Keys
from testkit.system import PBI, ROOT, SERVICES, RunningSystem, start_system

out = Console(width=None if sys.stdout.isatty() else 150)
SAMPLE = 100  # people read per look while a scenario catches up


# ---------------------------------------------------------------------------------------------------------------
# The harness: the running system, keys, posting and reading


@dataclass
class Outcome:
    name: str
    events: int
    lost: int
    duplicated: int
    dead_lettered: int
    recovery_s: float
    requests: int = 0
    messages: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


def no_answer(status: int) -> bool:
    """429 or 5xx: a service busy or restarting. Ask again: it is not an answer (reads and posts alike)."""
    return status == 429 or status >= 500


async def get_each(
    urls: dict[str, str],
    headers: dict[str, str],
    *,
    tries: int = 3,
    pause_s: float = 1.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, httpx.Response | None]:
    """GET every URL, 16 at a time; those with no answer (a connection error, a timeout, 429 or 5xx) asked again
    up to `tries` times: a read the loaded machine did not answer is not a lost event or request (CI26's end-of-run
    recount counted one so, beside a demo). None: never answered."""
    answers: dict[str, httpx.Response | None] = {}
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=30, transport=transport) as client:

        async def one(key: str, url: str) -> None:
            async with sem:
                try:
                    answers[key] = await client.get(url, headers=headers)
                except httpx.HTTPError:
                    answers[key] = None

        todo = dict(urls)
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(pause_s)
            await asyncio.gather(*(one(k, u) for k, u in todo.items()))
            todo = {k: u for k, u in todo.items() if (r := answers[k]) is None or no_answer(r.status_code)}
            if not todo:
                break
    return answers


@dataclass
class Harness:
    system: RunningSystem
    scale: float
    writer: str
    reader: str
    hospital: str
    kafka: str
    prefix: str
    used: set[str] = field(default_factory=set)
    checks: list[tuple[str, Wave, Acked, Outcome]] = field(default_factory=list)

    # -- posting ------------------------------------------------------------------------------------------------

    async def _post(
        self, client: httpx.AsyncClient, path: str, key: str, body: Any, idem: str | None, budget_s: float
    ) -> httpx.Response | None:
        """POST as a careful client would: retry connection errors, 409 (same key still in progress),
        429 and 5xx with the same body and Idempotency-Key; None when never acknowledged."""
        headers = {"Authorization": f"Bearer {key}", **({"Idempotency-Key": idem} if idem else {})}
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            try:
                r = await client.post(self.system.url("intake") + path, json=body, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if r.status_code == 202:
                return r
            if r.status_code == 409 or no_answer(r.status_code):  # 409: the same key still in progress
                await asyncio.sleep(0.5)
                continue
            raise RuntimeError(f"intake answered {r.status_code} to {path}: {r.text[:300]}")
        return None

    async def post(self, wave: Wave, size: int = 500, budget_s: float = 600) -> Acked:
        """Posts the wave in batches and, once a batch is acknowledged, the requests of its people
        (so requests race their deactivation through the consumers, as in life)."""
        acked = Acked()
        queue: asyncio.Queue[list[str] | None] = asyncio.Queue()
        async with httpx.AsyncClient(timeout=60) as client:

            async def events() -> None:
                try:
                    for i in range(0, len(wave.events), size):
                        batch = wave.events[i : i + size]
                        r = await self._post(client, "/v1/events", self.writer, {"events": batch}, None, budget_s)
                        if r is not None:
                            for event, event_id in zip(batch, r.json()["event_ids"], strict=True):
                                acked.events[str(event_id)] = event["nik"]
                            await queue.put([e["nik"] for e in batch if e["type"] == "participant.deactivated"])
                finally:
                    await queue.put(None)

            async def requests() -> None:
                sem = asyncio.Semaphore(8)

                async def one(person: Person, i: int) -> None:
                    async with sem:
                        path, body = request_body(person, i)
                        key = self.hospital if person.request == "EMERGENCY" else self.writer
                        r = await self._post(client, path, key, body, f"chaos-{uuid.uuid4()}", budget_s)
                        if r is not None:
                            acked.requests[person.nik] = str(r.json()["request_id"])

                tasks = []
                while (niks := await queue.get()) is not None:
                    for nik in niks:
                        if wave.people[nik].request:
                            tasks.append(asyncio.create_task(one(wave.people[nik], len(tasks))))
                await asyncio.gather(*tasks)

            await asyncio.gather(events(), requests())
        return acked

    # -- reading ------------------------------------------------------------------------------------------------

    async def _get_each(self, urls: dict[str, str]) -> dict[str, httpx.Response | None]:
        return await get_each(urls, {"Authorization": f"Bearer {self.reader}"})

    async def histories(self, niks: list[str]) -> dict[str, list[dict[str, Any]] | None]:
        """Each person's registry history ([] for a person the registry does not know; None: no answer)."""
        registry = self.system.url("registry")
        answers = await self._get_each({nik: f"{registry}/v1/participants/{nik}" for nik in niks})
        result: dict[str, list[dict[str, Any]] | None] = {}
        for nik, r in answers.items():
            try:
                if r is not None and r.status_code == 200:
                    result[nik] = list(r.json().get("history", []))
                else:
                    result[nik] = [] if r is not None and r.status_code == 404 else None
            except ValueError:
                result[nik] = None
        return result

    async def statuses(self, request_ids: list[str]) -> dict[str, str | None]:
        """Intake's answer to GET /v1/reactivations/{id}: what a client polling its request sees (the status,
        then received and decided times for the examples)."""
        intake = self.system.url("intake")
        answers = await self._get_each({rid: f"{intake}/v1/reactivations/{rid}" for rid in request_ids})
        result: dict[str, str | None] = {}
        for request_id, r in answers.items():
            try:
                body = r.json() if r is not None and r.status_code == 200 else {}
            except ValueError:
                result[request_id] = None
                continue
            result[request_id] = body.get("status")
            if body:
                times = f"received {hms(body.get('received_at'))}, decided {hms(body.get('decided_at'))}"
                result[f"{request_id}:times"] = times
        return result

    async def messages(self) -> list[dict[str, Any]] | None:
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                r = await client.get(self.system.url("simulator") + "/_sim/messages")
                return list(r.json()) if r.status_code == 200 else None
        except httpx.HTTPError:
            return None

    async def provider_faults(self, fault: dict[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(self.system.url("simulator") + "/_sim/faults", json={"whatsapp": fault, "sms": fault})
            r.raise_for_status()

    async def dead_letters(self) -> int:
        return sum((await KafkaHealth(self.kafka, self.prefix, cache_s=0).read())["dead_letters"].values())

    # -- settling -----------------------------------------------------------------------------------------------

    def limit(self, small_s: float, full_s: float) -> float:
        """How long a scenario may take to catch up: `small_s` for the reduced run (scale 0.1), `full_s` at 1.0."""
        return small_s + (full_s - small_s) * max(0.0, min(1.0, (self.scale - 0.1) / 0.9))

    async def settle(self, wave: Wave, acked: Acked, since: float, limit_s: float) -> tuple[Tally, float]:
        """Polls until everything acknowledged is visible (or `limit_s` passes); returns the tally and the
        seconds from `since` (the fault) to caught up. Only people still waiting are read again."""
        people = list(wave.people.values())
        started = dt.datetime.now(dt.UTC)
        histories: dict[str, list[dict[str, Any]] | None] = {}
        statuses: dict[str, str | None] = {}
        messages: list[dict[str, Any]] = []
        messages_at = 0.0
        todo = set(wave.people)
        deadline = time.monotonic() + limit_s
        # The harness shares the machine with the system: it reads little while the system catches up. A
        # sample of the people still waiting first; everyone waiting only once the sample is complete; the
        # provider's records (a growing list) only once every event and decision is there, every few seconds.
        rng, everyone = random.Random(0), False
        while True:
            look = sorted(todo)
            sampled = len(look) > SAMPLE and not everyone
            if sampled:
                look = rng.sample(look, SAMPLE)
            histories.update(await self.histories(look))
            statuses.update(await self.statuses([acked.requests[n] for n in look if n in acked.requests]))
            due = daytime(people, started) and daytime(people, dt.datetime.now(dt.UTC))
            tally = assess(wave, acked, histories, statuses, messages, due)
            if sampled and not tally.incomplete & set(look):
                todo, everyone = tally.incomplete, True  # the sample is complete: everyone still waiting, at once
                continue
            everyone = False
            if not tally.incomplete and time.monotonic() - messages_at >= self.limit(2, 5):
                messages, messages_at = await self.messages() or [], time.monotonic()
                tally = assess(wave, acked, histories, statuses, messages, due)
            if tally.caught_up or time.monotonic() > deadline:
                break
            todo = tally.incomplete
            await asyncio.sleep(self.limit(1, 2))
        recovery = time.monotonic() - since
        caught_up = tally.caught_up
        # Late duplicates (a redelivery, a resend after reconciliation): look once more, everyone, a bit later.
        await asyncio.sleep(self.limit(3, 5))
        due = daytime(people, started) and daytime(people, dt.datetime.now(dt.UTC))
        tally = await self.recount(wave, acked, due)
        tally.caught_up_in_time = caught_up
        return tally, recovery

    async def recount(
        self, wave: Wave, acked: Acked, non_urgent_due: bool, messages: list[dict[str, Any]] | None = None
    ) -> Tally:
        histories = await self.histories(sorted(wave.people))
        statuses = await self.statuses(list(acked.requests.values()))
        if messages is None:
            messages = await self.messages() or []
        return assess(wave, acked, histories, statuses, messages, non_urgent_due)

    def outcome(self, name: str, wave: Wave, acked: Acked, tally: Tally, dead: int, recovery_s: float) -> Outcome:
        o = Outcome(
            name,
            events=len(acked.events),
            lost=tally.lost,
            duplicated=tally.duplicated,
            dead_lettered=dead,
            recovery_s=round(recovery_s, 1),
            requests=len(acked.requests),
            messages=tally.messages_seen,
            detail=tally.detail(),
        )
        self.checks.append((name, wave, acked, o))
        if not tally.non_urgent_checked:
            out.print("  quiet hours (21:00-07:00 WIB): only urgent messages were required to arrive")
        if tally.lost or tally.duplicated:
            out.print(f"  [red]{name}: lost {tally.lost}, duplicated {tally.duplicated}[/red] {tally.detail()}")
        return o


# ---------------------------------------------------------------------------------------------------------------
# Scenarios

SEEDS = {"baseline": 11, "intake": 101, "eligibility": 202, "registry": 303, "notifier": 404}
SEEDS |= {"poison": 4242, "kafka": 505, "postgres": 606, "provider": 707}
SEEDS |= {f"{s}-urgent": SEEDS[s] + 1 for s in SERVICES}  # the role kills' waves (ROLE_SCENARIOS)


async def scenario_baseline(h: Harness, n: int) -> Outcome:
    """No fault: the same wave and checks, for comparison (recovery = time to catch up from the first POST)."""
    wave = plan_wave(n, SEEDS["baseline"], h.used)
    dead0, t0 = await h.dead_letters(), time.monotonic()
    acked = await h.post(wave)
    tally, recovery = await h.settle(wave, acked, t0, h.limit(150, 300))
    return h.outcome("no fault (baseline)", wave, acked, tally, await h.dead_letters() - dead0, recovery)


async def scenario_kill(h: Harness, target: str, n: int) -> Outcome:
    """SIGKILL `target`'s process groups one second into the wave, start them again a second later. `target` is a
    service (every process of it: one `all` process, or its urgent and bulk ones with roles) or, with roles, one
    role's process (`registry-urgent`): the other role keeps working meanwhile."""
    wave = plan_wave(n, SEEDS[target], h.used)
    victims = h.system.names_of(target)
    if not victims:
        raise SystemExit(f"no process {target!r} runs in this topology: {', '.join(h.system.processes)}")
    dead0 = await h.dead_letters()
    posting = asyncio.create_task(h.post(wave))
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    for name in victims:
        await asyncio.to_thread(h.system.kill, name, signal.SIGKILL)
    await asyncio.sleep(1.0)
    for name in victims:
        await asyncio.to_thread(h.system.launch, name)
    for name in victims:
        await asyncio.to_thread(h.system.wait_ready, name)
    acked = await posting
    # A notifier killed while sending leaves rows SENDING, reconciled after 2 min: allow for that.
    limit = h.limit(300, 480) if target.startswith("notifier") else h.limit(150, 420)
    tally, recovery = await h.settle(wave, acked, t0, limit)
    return h.outcome(f"SIGKILL {target}", wave, acked, tally, await h.dead_letters() - dead0, recovery)


async def scenario_poison(h: Harness, n: int) -> Outcome:
    """Bytes that are not JSON, a valid envelope with an unknown type and a schema violation on every
    topic, keyed by NIKs of the wave (so they sit on the partitions that person's records use next);
    then the wave. Each poison must be parked in the topic's DLQ with a reason by every consumer group
    reading the topic, and the partitions must keep flowing (the wave fully processed, lag back to 0)."""
    wave = plan_wave(n, SEEDS["poison"], h.used)
    keys = [p.nik for p in wave.with_request][: len(CATALOGUE)] or list(wave.people)[:1]
    dead0 = await h.dead_letters()
    producer = AIOKafkaProducer(bootstrap_servers=h.kafka, acks="all", enable_idempotence=True)
    await producer.start()
    poisons: set[tuple[str, bytes]] = set()  # (topic, value)
    try:
        for i, spec in enumerate(CATALOGUE):
            nik = keys[i % len(keys)]
            topic = h.prefix + spec.name
            for value in (
                b"\x00not json {",
                json.dumps(
                    {
                        "event_id": str(uuid.uuid4()),
                        "type": "participant.teleported",
                        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
                        "source": "chaos",
                        "nik": nik,
                    }
                ).encode(),
                json.dumps({"event_id": str(uuid.uuid4()), "type": spec.event_types[0], "nik": nik}).encode(),
            ):
                await producer.send_and_wait(topic, value, key=nik.encode())
                poisons.add((topic, value))
    finally:
        await producer.stop()
    t0 = time.monotonic()
    acked = await h.post(wave)
    tally, recovery = await h.settle(wave, acked, t0, h.limit(150, 300))
    parked, expected, lag = await poison_parked(h, poisons)
    out.print(
        f"  {len(poisons)} poison records injected; parked with a reason: {parked} of {expected} "
        f"(poison x consumer group); consumer lag afterwards: {lag}"
    )
    o = h.outcome("poison messages", wave, acked, tally, await h.dead_letters() - dead0, recovery)
    o.detail |= {"poison_injected": len(poisons), "poison_parked": parked, "poison_expected": expected, "lag": lag}
    return o


async def poison_parked(h: Harness, poisons: set[tuple[str, bytes]]) -> tuple[int, int, int]:
    """(poison records found in the DLQs with a reason, per consumer group; how many there should be;
    total consumer lag once settled). Groups reading a topic are found from their committed offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=h.kafka)
    consumer = AIOKafkaConsumer(bootstrap_servers=h.kafka, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        readers: dict[str, set[str]] = defaultdict(set)
        for group, _ in await admin.list_consumer_groups():
            if group.startswith(h.prefix):
                for tp in await admin.list_consumer_group_offsets(group):
                    readers[tp.topic].add(group)
        expected = sum(len(readers.get(topic, ())) for topic, _ in poisons)
        dlqs = [h.prefix + spec.dlq for spec in CATALOGUE if (h.prefix + spec.name) in readers]
        tps = [
            TopicPartition(d["topic"], p["partition"])
            for d in (await admin.describe_topics(dlqs) if dlqs else [])
            for p in d["partitions"]
        ]
        parked: set[tuple[str, str, bytes]] = set()
        if tps:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any([await consumer.position(tp) < ends[tp] for tp in tps]):
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for r in records:
                        headers = {k: v.decode(errors="replace") for k, v in r.headers}
                        origin = headers.get(HEADER_ORIGIN, "")
                        if (origin, r.value) in poisons and headers.get(HEADER_REASON):
                            parked.add((headers.get(HEADER_GROUP, ""), origin, r.value))
        lag = -1
        for _ in range(30):  # the partitions keep flowing: every group catches up with its topics
            lag = sum((await KafkaHealth(h.kafka, h.prefix, cache_s=0).read())["consumer_lag"].values())
            if lag == 0:
                break
            await asyncio.sleep(2)
        return len(parked), expected, lag
    finally:
        await consumer.stop()
        await admin.close()


# ---------------------------------------------------------------------------------------------------------------
# Running

Scenario = Callable[[Harness, int], Awaitable[Outcome]]  # (harness, people per wave) -> outcome


def killing(target: str) -> Scenario:
    return lambda h, n: scenario_kill(h, target, n)


# The scenarios that need only the running system, in the order `make chaos` runs them.
SYSTEM_SCENARIOS: dict[str, Scenario] = {
    "baseline": scenario_baseline,
    **{f"kill-{s}": killing(s) for s in ("intake", "eligibility", "registry", "notifier")},
    "poison": scenario_poison,
}
# With roles (make up's topology), one role's process killed while the other runs on: the urgent ones, which
# hold a patient's path (intake's is the HTTP API, whose kill `kill-intake` already covers).
ROLE_SCENARIOS: dict[str, Scenario] = {
    f"kill-{s}-urgent": killing(f"{s}-urgent") for s in ("eligibility", "registry", "notifier")
}


TOPOLOGY = {True: "urgent and bulk processes", False: "one process per service"}


def for_topology(scenarios: Mapping[str, Scenario], roles: bool) -> dict[str, Scenario]:
    """The scenarios a topology can run: the role kills only with roles."""
    return {**scenarios, **ROLE_SCENARIOS} if roles else {k: v for k, v in scenarios.items() if k not in ROLE_SCENARIOS}


async def run_scenarios(
    kafka: str,
    admin_db: str,
    scale: float,
    chosen: list[str],
    scenarios: Mapping[str, Scenario] = SYSTEM_SCENARIOS,
    roles: bool = False,
) -> list[Outcome]:
    """Starts the system in a throwaway database and topic prefix, runs the `chosen` scenarios in order
    (waves of max(50, 2,000 x scale) people), counts everything once more at the end, and cleans up.
    `roles`: each service as an urgent and a bulk process (`make up`'s topology), else one `all` process."""
    known = for_topology(scenarios, roles)
    unknown = set(chosen) - set(known)
    if unknown:
        hint = " (the role kills need roles: CHAOS_ROLES=1)" if unknown & set(ROLE_SCENARIOS) else ""
        raise SystemExit(f"unknown scenarios {sorted(unknown)}{hint}; known: {', '.join(known)}")
    n = max(50, int(2000 * scale))
    db_name = f"pbi_chaos_{uuid.uuid4().hex[:8]}"
    db_url = await create_database(admin_db, db_name)
    # Not a shape the test sessions sweep as leftovers (one starting beside this run would delete its
    # topics mid-run): deleted at the end instead.
    prefix = new_run_prefix("chaos")
    system: RunningSystem | None = None
    try:
        await ensure_topics(Settings(kafka_bootstrap_servers=kafka, topic_prefix=prefix, kafka_partitions_override=3))
        logs = ROOT / ".run" / "chaos-logs" / prefix.rstrip(".")
        system = start_system(db_url, kafka, prefix, logs, roles=roles)
        await asyncio.to_thread(
            subprocess.run,
            [PBI, "facilities", "add", FACILITY, "RSUD Kota Tangerang Selatan"],
            env=system.env,
            check=True,
            capture_output=True,
        )
        keys = Keys(Settings(database_url=db_url))
        h = Harness(
            system,
            scale,
            await keys.issue("events:write,reactivations:write", name="chaos"),
            await keys.issue("participants:read,dashboard:read", name="chaos"),
            await keys.issue("emergency:write", [FACILITY], name="chaos"),
            kafka,
            prefix,
        )
        results = []
        for name in chosen:
            out.print(f"[bold]scenario[/bold] {name}…")
            started = time.monotonic()
            results.append(await known[name](h, n))
            results[-1].detail["topology"] = TOPOLOGY[roles]
            out.print(f"  done in {time.monotonic() - started:.0f} s")
        await final_recount(h)
        return results
    finally:
        if system is not None:
            stop(system)
        await delete_prefixed_topics(kafka, prefix)
        await drop_database(admin_db, db_name)


def stop(system: RunningSystem) -> None:
    """system.stop(), and SIGKILL for any process that did not stop on SIGTERM in time (on a loaded machine
    intake once took over 30 s: the run ended with an exception and left the system running)."""
    processes = list(system.processes.values())
    try:
        system.stop()
    except subprocess.TimeoutExpired:
        for proc in processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


async def final_recount(h: Harness) -> None:
    """Once every scenario ran: count again, so a duplicate that arrived after a scenario ended (a late
    redelivery, a message resent after reconciliation) still counts against it."""
    messages = await h.messages() or []
    for name, wave, acked, o in h.checks:
        # What was due is the scenario's own judgement (quiet hours may have begun since).
        tally = await h.recount(wave, acked, bool(o.detail.get("non_urgent_checked")), messages)
        if (tally.lost, tally.duplicated) == (o.lost, o.duplicated):
            continue
        out.print(f"  [yellow]{name}: at the end of the run {tally.lost} lost, {tally.duplicated} duplicated[/yellow]")
        o.detail["at_end_of_run"] = tally.detail()
        # Lost stays what was missing when the scenario's limit passed; what showed up later is noted.
        o.detail["arrived_after_limit"] = max(0, o.lost - tally.lost)
        o.lost, o.duplicated = max(o.lost, tally.lost), max(o.duplicated, tally.duplicated)

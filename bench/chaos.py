"""`make chaos`: run a wave with reactivation requests while something breaks, then compare what
clients were told (202s) with what the registry and the provider (the notifier's simulator) hold.

Every scenario posts a wave of deactivations (plus the facts some requests need) and, for three
people in ten, a reactivation request: a hospital emergency, a regular request whose desil and
biometric facts are in the wave, or a chronic-disease request with a village letter above desil 5.
Then it checks what must be true:

- every acknowledged event is in its participant's registry history exactly once;
- every acknowledged request has exactly one final decision (APPROVED, REJECTED or EXPIRED) in the
  registry history, and intake answers that final status for the request id;
- the provider received at most one message per person and event, and every message that must be
  sent by now (emergencies always; the rest outside quiet hours, 21:00-07:00 local) exactly once.

"Lost" = an acknowledged event missing from the history + an acknowledged request without a final
decision (or whose status intake does not show) + a due message the provider never received.
"Duplicated" = a history entry or a final decision beyond the first, and each extra copy of a
message. Nothing is taken from the services' own counters. Details: docs/chaos.md.

CHAOS_SCALE (default 1.0: 2,000 people per wave) sizes the waves; CHAOS_SCENARIOS (comma-separated)
picks scenarios. `tests/e2e/test_chaos_reduced.py` runs a reduced version inside `make test`.
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
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from bench.run import wave_events
from services.notifier.domain.messages import NAMESPACE as MESSAGE_NAMESPACE
from services.notifier.domain.messages import QUIET_END, QUIET_START
from services.registry.dashboard.kafka_health import KafkaHealth
from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.kafka import HEADER_GROUP, HEADER_ORIGIN, HEADER_REASON, ensure_topics
from shared.nik import mask_nik
from shared.phone import normalize_phone
from shared.settings import Settings
from shared.timezones import zone_for_nik
from shared.topics import CATALOGUE
from tests.conftest import _create_database, _drop_database, delete_topics
from tests.e2e.system import PBI, RunningSystem, start_system
from tests.infra import LOCAL_DATABASE, LOCAL_KAFKA

ROOT = Path(__file__).resolve().parents[1]
out = Console(width=None if sys.stdout.isatty() else 150)

FACILITY = "3674R001"
FINAL = {"APPROVED", "REJECTED", "EXPIRED"}
DECIDED = "reactivation.decided"
KINDS = ("deactivated", "received", "approved", "emergency_approved", "rejected", "pending", "expired")
DECISION_KINDS = ("approved", "emergency_approved", "rejected", "pending", "expired")
# The provider simulator's random faults (services/notifier/simulator.py): half the calls fail with a
# 500, one in ten hangs longer than the notifier's provider timeout first.
FAIL_RATE, TIMEOUT_RATE = 0.5, 0.1
SAMPLE = 100  # people read per look while a scenario catches up


def provider_timeout_s() -> float:
    """The notifier's HTTP timeout towards the providers (services/notifier/settings.py, env PROVIDER_TIMEOUT_S)."""
    return float(os.environ.get("PROVIDER_TIMEOUT_S", "10"))


# ---------------------------------------------------------------------------------------------------------------
# What a scenario posts, and what clients were told


@dataclass
class Person:
    nik: str
    phone: str | None  # E.164, as the provider records it
    request: str | None  # EMERGENCY | REGULAR | CHRONIC | None


@dataclass
class Wave:
    people: dict[str, Person]
    events: list[dict[str, Any]]  # deactivations first, then the facts regular requests need

    @property
    def deactivations(self) -> set[str]:
        return {e["event_id"] for e in self.events if e["type"] == "participant.deactivated"}

    @property
    def with_request(self) -> list[Person]:
        return [p for p in self.people.values() if p.request]


@dataclass
class Acked:
    """What intake answered 202 to."""

    events: dict[str, str] = field(default_factory=dict)  # event_id -> nik
    requests: dict[str, str] = field(default_factory=dict)  # nik -> request_id


def plan_wave(n: int, seed: int, used: set[str]) -> Wave:
    """n people of a Tangerang Selatan-like wave (never someone an earlier scenario used)."""
    rng = random.Random(seed)
    today = dt.datetime.now(dt.UTC)
    deactivations = [e for e in wave_events(n, seed=seed) if e["nik"] not in used]
    people: dict[str, Person] = {}
    facts: list[dict[str, Any]] = []
    for i, e in enumerate(deactivations):
        used.add(e["nik"])
        e["event_id"] = str(uuid.uuid4())
        kind = {0: "EMERGENCY", 3: "REGULAR", 6: "CHRONIC"}.get(i % 10)
        phone = normalize_phone(e["phone"]) if e.get("phone") else None
        people[e["nik"]] = Person(e["nik"], phone, kind)
        if kind == "REGULAR":  # a DTSEN re-ranking to desil 3 and a biometric recording: approvable
            for type_, extra in (
                ("participant.desil_updated", {"desil": rng.randint(1, 5), "effective_on": today.date().isoformat()}),
                ("participant.biometric_recorded", {"recorded_on": today.date().isoformat()}),
            ):
                facts.append(
                    {
                        "event_id": str(uuid.uuid4()),
                        "type": type_,
                        "occurred_at": today.isoformat(),
                        "source": "DTSEN" if "desil" in type_ else "DUKCAPIL",
                        "nik": e["nik"],
                        **extra,
                    }
                )
    return Wave(people, deactivations + facts)


def request_body(person: Person, i: int) -> tuple[str, dict[str, Any]]:
    phone = {"phone": person.phone} if person.phone else {}
    if person.request == "EMERGENCY":
        return "/v1/hospital/emergency-reactivations", {
            "nik": person.nik,
            "facility_code": FACILITY,
            "letter_no": f"IGD/CHAOS/{i}",
            "admitted_at": dt.datetime.now(dt.UTC).isoformat(),
            **phone,
        }
    if person.request == "REGULAR":
        return "/v1/reactivations", {"nik": person.nik, "path": "REGULAR", "channel": "VILLAGE", **phone}
    return "/v1/reactivations", {
        "nik": person.nik,
        "path": "CHRONIC",
        "channel": "DINSOS",
        **phone,
        "documents": {
            "doctor_letter": {"register_no": f"SIP/{i}", "diagnosis_icd10": "E11"},
            "village_letter": {"letter_no": f"KEL/{i}", "desil": 7},  # above 5: rejected
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# Counting: acknowledged vs. held


@dataclass
class Tally:
    events: int = 0
    events_lost: int = 0
    events_duplicated: int = 0
    requests: int = 0
    requests_lost: int = 0  # no final decision in the registry, or none in intake's answer (counted once)
    requests_undecided: int = 0
    requests_decided_twice: int = 0
    request_status_missing: int = 0
    messages_due: int = 0
    messages_lost: int = 0
    messages_duplicated: int = 0
    messages_seen: int = 0
    non_urgent_checked: bool = True
    caught_up_in_time: bool = True
    examples: list[str] = field(default_factory=list)  # a few problems, for the report (NIKs masked)
    incomplete: set[str] = field(default_factory=set)  # NIKs whose events, decision or status are still missing

    def example(self, nik: str, problem: str, history: list[dict[str, Any]] | None, status: str | None = None) -> None:
        if len(self.examples) < 8:
            steps = [
                f"{h.get('event_type')}->{h.get('status')}{h.get('reasons') or ''}"
                + (f"@{_hms(h.get('occurred_at'))}" if h.get("event_type") == DECIDED else "")
                for h in history or []
            ]
            self.examples.append(f"{mask_nik(nik)} {problem} (intake: {status}; history: {steps})")

    @property
    def lost(self) -> int:
        return self.events_lost + self.requests_lost + self.messages_lost

    @property
    def duplicated(self) -> int:
        return self.events_duplicated + self.requests_decided_twice + self.messages_duplicated

    @property
    def caught_up(self) -> bool:
        return self.lost == 0

    def detail(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "incomplete"}


def _hms(stamp: Any) -> str:
    """HH:MM:SS.mmm of an RFC 3339 time (UTC as the services write it), for examples."""
    return str(stamp)[11:23] if stamp else "-"


def message_refs(event_id: str, kinds: tuple[str, ...] = KINDS) -> set[str]:
    """The notifier's message ids for an event (one message per event and kind, `uuid5(event_id:kind)`),
    which the provider receives as the message's reference (WhatsApp biz_opaque_callback_data)."""
    return {str(uuid.uuid5(MESSAGE_NAMESPACE, f"{event_id}:{kind}")) for kind in kinds}


def daytime(people: list[Person], at: dt.datetime) -> bool:
    """Outside the notifier's quiet hours for everybody (5 minutes of margin): non-urgent messages go out."""
    margin = dt.timedelta(minutes=5)
    for p in people:
        local = at.astimezone(zone_for_nik(p.nik))
        start = local.replace(hour=QUIET_END.hour, minute=QUIET_END.minute, second=0, microsecond=0) + margin
        end = local.replace(hour=QUIET_START.hour, minute=QUIET_START.minute, second=0, microsecond=0) - margin
        if not start <= local < end:
            return False
    return True


def assess(
    wave: Wave,
    acked: Acked,
    histories: dict[str, list[dict[str, Any]] | None],
    statuses: dict[str, str | None],
    messages: list[dict[str, Any]],
    non_urgent_due: bool,
) -> Tally:
    t = Tally(events=len(acked.events), requests=len(acked.requests), non_urgent_checked=non_urgent_due)
    by_person: dict[str, list[str]] = defaultdict(list)
    for event_id, nik in acked.events.items():
        by_person[nik].append(event_id)
    deactivations = wave.deactivations

    # 1. Events: each acknowledged one exactly once in its person's history; no history entry twice.
    final_decision: dict[str, list[dict[str, Any]]] = {}
    for nik in wave.people:
        history = histories.get(nik)
        seen = Counter(str(h.get("event_id")) for h in history or [])
        missing = [e for e in by_person.get(nik, []) if seen[e] == 0]
        t.events_lost += len(missing)
        twice = sum(c - 1 for c in seen.values() if c > 1)
        t.events_duplicated += twice
        if history is not None and (missing or twice):
            t.example(nik, f"{len(missing)} events missing, {twice} twice", history)
        final_decision[nik] = [
            h for h in history or [] if h.get("event_type") == DECIDED and h.get("status") != "REACTIVATION_PENDING"
        ]
        if missing or history is None:
            t.incomplete.add(nik)

    # 2. Requests: exactly one final decision in the registry, and intake shows a final status.
    for nik, request_id in acked.requests.items():
        finals = final_decision.get(nik, [])
        status = statuses.get(request_id)
        if not finals:
            t.requests_undecided += 1
            t.incomplete.add(nik)
        t.requests_decided_twice += max(0, len(finals) - 1)
        if status not in FINAL:
            t.request_status_missing += 1
            t.incomplete.add(nik)
        t.requests_lost += int(not finals or status not in FINAL)
        if len(finals) != 1 or status not in FINAL:
            intake = f"{status}, {statuses.get(f'{request_id}:times')}"
            t.example(nik, f"{wave.people[nik].request} request {request_id}", histories.get(nik), intake)

    # 3. Messages the provider holds for these people: at most one per (person, event)...
    phones = {p.phone for p in wave.people.values() if p.phone}
    mine = [m for m in messages if m.get("to") in phones]
    t.messages_seen = len(mine)
    copies = Counter(m.get("reference") or f"{m.get('to')}|{m.get('text')}" for m in mine)
    t.messages_duplicated = sum(c - 1 for c in copies.values() if c > 1)
    # ...and exactly one of each message due by now: the request's and its final decision's for
    # emergencies (urgent: sent at once), the deactivation's, request's and decision's for the rest
    # when outside quiet hours.
    for nik, person in wave.people.items():
        if not person.phone:
            continue
        urgent = person.request == "EMERGENCY"
        due: list[set[str]] = []
        if non_urgent_due:
            due += [message_refs(e, ("deactivated",)) for e in by_person.get(nik, []) if e in deactivations]
        request_id = acked.requests.get(nik)
        if request_id and (urgent or non_urgent_due):
            due.append(message_refs(str(uuid.uuid5(uuid.UUID(request_id), "requested")), ("received",)))
            for h in final_decision.get(nik, [])[:1]:
                due.append(message_refs(str(h["event_id"]), DECISION_KINDS))
        for refs in due:
            t.messages_due += 1
            if not any(copies.get(r) for r in refs):
                t.messages_lost += 1
                t.example(nik, f"message {sorted(refs)[0]}.. not at the provider", histories.get(nik))
    for ref, c in copies.items():
        if c > 1 and len(t.examples) < 8:
            at = [
                str(m.get("at", "?"))[11:23]
                for m in mine
                if (m.get("reference") or f"{m.get('to')}|{m.get('text')}") == ref
            ]
            t.examples.append(f"message {ref[:36]} received {c} times, at {', '.join(at)} UTC")
    return t


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
            if r.status_code in (409, 429) or r.status_code >= 500:
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
        """GET every URL with the reader's key, 16 at a time (None: no answer)."""
        answers: dict[str, httpx.Response | None] = {}
        sem = asyncio.Semaphore(16)
        async with httpx.AsyncClient(timeout=30) as client:

            async def one(key: str, url: str) -> None:
                async with sem:
                    try:
                        answers[key] = await client.get(url, headers={"Authorization": f"Bearer {self.reader}"})
                    except httpx.HTTPError:
                        answers[key] = None

            await asyncio.gather(*(one(k, u) for k, u in urls.items()))
        return answers

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
                times = f"received {_hms(body.get('received_at'))}, decided {_hms(body.get('decided_at'))}"
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


async def scenario_baseline(h: Harness, n: int) -> Outcome:
    """No fault: the same wave and checks, for comparison (recovery = time to catch up from the first POST)."""
    wave = plan_wave(n, SEEDS["baseline"], h.used)
    dead0, t0 = await h.dead_letters(), time.monotonic()
    acked = await h.post(wave)
    tally, recovery = await h.settle(wave, acked, t0, h.limit(150, 300))
    return h.outcome("no fault (baseline)", wave, acked, tally, await h.dead_letters() - dead0, recovery)


async def scenario_kill(h: Harness, service: str, n: int) -> Outcome:
    """SIGKILL the service's whole process group one second into the wave, start it again."""
    wave = plan_wave(n, SEEDS[service], h.used)
    dead0 = await h.dead_letters()
    posting = asyncio.create_task(h.post(wave))
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    await asyncio.to_thread(h.system.kill, service, signal.SIGKILL)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(h.system.start, service)
    acked = await posting
    # A notifier killed while sending leaves rows SENDING, reconciled after 2 min: allow for that.
    limit = h.limit(300, 480) if service == "notifier" else h.limit(150, 420)
    tally, recovery = await h.settle(wave, acked, t0, limit)
    return h.outcome(f"SIGKILL {service}", wave, acked, tally, await h.dead_letters() - dead0, recovery)


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


def infra_env() -> dict[str, str]:
    """The environment deploy/local/{kafka,postgres}.sh run with: ours, so PBI_STATE_DIR, PBI_KAFKA_PORT,
    PBI_KAFKA_CONTROLLER_PORT, PGPORT and PBI_PG_DATA select the same (private) infrastructure."""
    return dict(os.environ)


def check_restart_targets(kafka: str, database_url: str) -> None:
    """Refuses to restart a broker or database other than the one the system under test uses."""
    kafka_port = int(kafka.split(",")[0].rsplit(":", 1)[1])
    script_kafka = int(os.environ.get("PBI_KAFKA_PORT", "9092"))
    pg_port = make_url(database_url).port or 5432
    script_pg = int(os.environ.get("PGPORT", "5432"))
    if (kafka_port, pg_port) != (script_kafka, script_pg):
        raise SystemExit(
            f"the restart scenarios would restart Kafka :{script_kafka} / PostgreSQL :{script_pg}, but the "
            f"system runs on Kafka :{kafka_port} / PostgreSQL :{pg_port}: set PBI_KAFKA_PORT and PGPORT "
            "(and PBI_STATE_DIR, PBI_PG_DATA) to match KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (docs/chaos.md)"
        )


async def infra(which: str, action: str) -> None:
    script = ROOT / "deploy" / "local" / ("kafka.sh" if which == "kafka" else "postgres.sh")
    done = await asyncio.to_thread(
        subprocess.run, ["bash", str(script), action], env=infra_env(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} {action} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


async def scenario_restart_infra(h: Harness, which: str, n: int) -> Outcome:
    """Stop the broker (or the database) one second into the wave, start it again two seconds later.
    Recovery counts from the stop."""
    wave = plan_wave(n, SEEDS[which], h.used)
    dead0 = await h.dead_letters()
    posting = asyncio.create_task(h.post(wave))
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    try:
        await infra(which, "stop")
        down_s = time.monotonic() - t0
        await asyncio.sleep(2)
    finally:
        await infra(which, "start")
    outage_s = time.monotonic() - t0
    out.print(f"  {which} stopped in {down_s:.1f} s, back after {outage_s:.1f} s")
    acked = await posting
    tally, recovery = await h.settle(wave, acked, t0, h.limit(240, 480))
    o = h.outcome(f"restart {which}", wave, acked, tally, await h.dead_letters() - dead0, recovery)
    o.detail["outage_s"] = round(outage_s, 1)
    return o


async def scenario_provider(h: Harness, n: int, fault_window_s: float) -> Outcome:
    """The provider simulator fails half the calls (HTTP 500) and lets one in ten hang longer than the
    notifier's provider timeout, from before the wave until `fault_window_s` after it was acknowledged;
    then it is healthy again. Every message due must end up at the provider exactly once."""
    wave = plan_wave(n, SEEDS["provider"], h.used)
    timeout_s = provider_timeout_s() + 2  # a real timeout for the notifier, yet short enough to finish
    dead0 = await h.dead_letters()
    await h.provider_faults({"fail_rate": FAIL_RATE, "timeout_rate": TIMEOUT_RATE, "timeout_s": timeout_s})
    t0 = time.monotonic()
    try:
        acked = await h.post(wave)
        await asyncio.sleep(fault_window_s)
    finally:
        await h.provider_faults({})
    fault_s = time.monotonic() - t0
    out.print(
        f"  provider failing {FAIL_RATE:.0%} and hanging {TIMEOUT_RATE:.0%} of calls ({timeout_s:g} s) "
        f"for {fault_s:.0f} s"
    )
    # The notifier backs off 30 s, then 2 min, after a message's tries fail: allow for both.
    tally, recovery = await h.settle(wave, acked, t0, h.limit(300, 600))
    o = h.outcome("provider 50% fail, 10% timeout", wave, acked, tally, await h.dead_letters() - dead0, recovery)
    o.detail["fault_s"] = round(fault_s, 1)
    return o


# ---------------------------------------------------------------------------------------------------------------
# Running


ALL = [
    "baseline",
    "kill-intake",
    "kill-eligibility",
    "kill-registry",
    "kill-notifier",
    "poison",
    "provider",
    "restart-kafka",
    "restart-postgres",
]


async def run(scale: float = 1.0, scenarios: list[str] | None = None) -> list[Outcome]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    admin_db = os.environ.get("DATABASE_URL", LOCAL_DATABASE)
    chosen = scenarios or ALL
    unknown = set(chosen) - set(ALL)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {', '.join(ALL)}")
    if any(s.startswith("restart-") for s in chosen):
        check_restart_targets(kafka, admin_db)
    n = max(50, int(2000 * scale))
    db_name = f"pbi_chaos_{uuid.uuid4().hex[:8]}"
    db_url = await _create_database(admin_db, db_name)
    # Not the "chaos<hex6>." shape tests/conftest.py sweeps as leftovers: a test session starting beside
    # a chaos run would delete its topics mid-run. Deleted at the end instead.
    prefix = f"chaos-{uuid.uuid4().hex[:8]}."
    system: RunningSystem | None = None
    try:
        await ensure_topics(Settings(kafka_bootstrap_servers=kafka, topic_prefix=prefix, kafka_partitions_override=3))
        system = start_system(db_url, kafka, prefix, ROOT / ".run" / "chaos-logs" / prefix.rstrip("."))
        await asyncio.to_thread(
            subprocess.run,
            [PBI, "facilities", "add", FACILITY, "RSUD Kota Tangerang Selatan"],
            env=system.env,
            check=True,
            capture_output=True,
        )
        store = ApiKeyStore(make_engine(Settings(database_url=db_url)), Settings().api_key_pepper.get_secret_value())
        await store.migrate()
        h = Harness(
            system,
            scale,
            await store.issue("chaos", ["events:write", "reactivations:write"]),
            await store.issue("chaos", ["participants:read", "dashboard:read"]),
            await store.issue("chaos", ["emergency:write"], [FACILITY]),
            kafka,
            prefix,
        )
        await store.engine.dispose()
        plan: dict[str, Callable[[], Awaitable[Outcome]]] = {
            "baseline": lambda: scenario_baseline(h, n),
            "kill-intake": lambda: scenario_kill(h, "intake", n),
            "kill-eligibility": lambda: scenario_kill(h, "eligibility", n),
            "kill-registry": lambda: scenario_kill(h, "registry", n),
            "kill-notifier": lambda: scenario_kill(h, "notifier", n),
            "poison": lambda: scenario_poison(h, n),
            "provider": lambda: scenario_provider(h, max(50, n // 4), h.limit(10, 60)),
            "restart-kafka": lambda: scenario_restart_infra(h, "kafka", n),
            "restart-postgres": lambda: scenario_restart_infra(h, "postgres", n),
        }
        results = []
        for name in chosen:
            out.print(f"[bold]scenario[/bold] {name}…")
            started = time.monotonic()
            results.append(await plan[name]())
            out.print(f"  done in {time.monotonic() - started:.0f} s")
        await final_recount(h)
        return results
    finally:
        if system is not None:
            system.stop()
        await delete_topics(kafka, lambda name: name.startswith(prefix))
        await _drop_database(admin_db, db_name)


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


def report(results: list[Outcome]) -> None:
    table = Table(title="chaos", title_justify="left")
    for col in ("scenario", "events", "lost", "duplicated", "dead-lettered", "recovery (s)", "requests", "messages"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for r in results:
        table.add_row(
            r.name,
            str(r.events),
            str(r.lost),
            str(r.duplicated),
            str(r.dead_lettered),
            str(r.recovery_s) if r.detail.get("caught_up_in_time", True) else f"> {r.recovery_s:.0f}",
            str(r.requests),
            str(r.messages),
        )
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
                "requests": r.requests,
                "messages": r.messages,
                "detail": r.detail,
            }
            for r in results
        ]
    }


if __name__ == "__main__":
    wanted = [s.strip() for s in os.environ.get("CHAOS_SCENARIOS", "").split(",") if s.strip()] or None
    outcomes = asyncio.run(run(float(os.environ.get("CHAOS_SCALE", "1.0")), wanted))
    (ROOT / "chaos-results.json").write_text(json.dumps(results_json(outcomes), indent=2) + "\n")
    report(outcomes)

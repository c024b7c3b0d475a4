"""CPU per wave event of intake's batch preparation and of a consumer's record decoding, in this process
alone (no Kafka, no database): what issue 20's "intake and decoding" work changes.

    .venv/bin/python -m bench.decode [N] [--profile intake|decode]
    PBI_ENV=local .venv/bin/python -m bench.decode [N] --kafka    # + the worker's publishing, on Kafka
    PBI_ENV=local .venv/bin/python -m bench.decode [N] --http     # + intake's whole POST, with its worker

- intake: `services.intake.bulk.prepare` on 5,000-event bodies of the wave (what the bulk worker does
  with a POST's bytes: parse, scope check, stamp, validate, encode), then the records the worker hands
  its producer; CPU ms per event and the Python heap's peak (tracemalloc) for one body.
- publish (--kafka): the prepared batches published to a throwaway topic (12 partitions, like the wave's)
  in one Kafka transaction each, by the worker's publisher (bulk_worker.Worker.publisher's class) and,
  to compare, by a DirectPublisher (a `send` per record); CPU ms per event of this process (the
  producer's loop included), alternately, best of REPEAT.
- http (--http): intake's app in this process (a throwaway database and topic prefix, the ASGI transport)
  takes the N events as POST /v1/events bodies of 5,000, two in flight as bench.run posts them; CPU ms per
  event of this process (the HTTP side, the client's small share included) and of the bulk worker
  (parse, validate, publish), and their peak RSS together (sampled every 50 ms, as bench.run adds them;
  this process also holds the bench's bodies) and the worker's alone.
- decode: the records intake published, decoded as each consumer does (`shared.kafka._process`'s loop:
  `decode_record` with the topic's adapter): eligibility's `participant_event_adapter`, the registry's and
  the notifier's `any_event_adapter`. The NIK and phone caches are emptied first: a consumer process meets
  each person of a wave about once.
Figures are process CPU time (time.process_time), the best of REPEAT rounds: a loaded machine slows the
wall clock more than the CPU time, but compare before/after runs made alternately all the same.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from aiokafka.structs import ConsumerRecord
from pydantic import TypeAdapter

from services.intake import bulk, bulk_worker
from shared import events as shared_events
from shared import kafka, messaging, nik, phone
from shared.topics import PARTICIPANT_EVENTS
from testkit.wave import wave_events

BATCH = 5_000
REPEAT = 3
SOURCE = "SIKS-NG"
SCOPES = frozenset({"events:write"})


def _fresh_caches() -> None:
    nik.parse_nik.cache_clear()
    phone.normalize_phone.cache_clear()


def _cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    _fresh_caches()
    gc.collect()
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def _best(fn: Callable[[], Any]) -> tuple[float, Any]:
    runs = [_cpu(fn) for _ in range(REPEAT)]
    return min(t for t, _ in runs), runs[0][1]


def _prepare(raw: bytes) -> Any:
    """What the bulk worker does with a POST's bytes (before 2026-11-30 15:00 the function was bulk.prepare,
    given the key's scopes: kept so that the bench measures an older checkout too)."""
    if hasattr(bulk, "prepare"):
        return bulk.prepare(raw, False, SOURCE, SCOPES)
    return bulk_worker.prepare(raw, False, SOURCE, bulk.forbidden_types(SCOPES))


def bodies_of(n: int) -> list[bytes]:
    wave = wave_events(n, seed=7)
    return [json.dumps({"events": wave[i : i + BATCH]}).encode() for i in range(0, n, BATCH)]


def intake(bodies: list[bytes]) -> list[bytes]:
    """prepare() per body and the worker's records; returns the values it would publish."""
    n = sum(b.count(b'"nik"') for b in bodies)
    values: list[bytes] = []

    def run() -> list[Any]:
        out = []
        for raw in bodies:
            prepared = _prepare(raw)
            assert type(prepared).__name__ == "Prepared", prepared
            out.append(prepared)
        return out

    seconds, prepared = _best(run)
    for p in prepared:
        values.extend(v for v, _, _ in p.records)
    headers = messaging.wire_headers({"x-correlation-id": "bench"})

    def records() -> None:  # what bulk_worker.Worker.publish builds before the producer's sends
        for p in prepared:
            topic = "pbi." + PARTICIPANT_EVENTS.name
            [messaging.Record(topic, v, k, [(messaging.EVENT_TYPE, kind), *headers]) for v, k, kind in p.records]

    build, _ = _best(records)
    tracemalloc.start()
    _fresh_caches()
    _prepare(bodies[0])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"intake prepare: {seconds / n * 1000:.4f} CPU ms/event, records {build / n * 1000:.4f} ms/event "
        f"({n:,} events in {len(bodies)} bodies of {len(bodies[0]) / 1e6:.2f} MB); "
        f"Python heap peak for one body {peak / 1e6:.1f} MB"
    )
    return values


def publish(bodies: list[bytes]) -> None:
    import asyncio
    import uuid

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from services.intake import publisher
    from shared.settings import Settings

    settings = Settings()
    prepared = [_prepare(raw) for raw in bodies]
    n = sum(len(p.records) for p in prepared)
    headers = messaging.wire_headers({"x-correlation-id": "bench"})
    kinds = {
        "per record (DirectPublisher)": messaging.DirectPublisher,
        "record batches (BatchPublisher)": messaging.BatchPublisher,
    }

    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await admin.start()
        topic = f"bench-decode-{uuid.uuid4().hex[:8]}"
        await admin.create_topics([NewTopic(topic, PARTICIPANT_EVENTS.partitions, 1)])
        try:
            producers = {
                name: cls.for_settings(settings, transactional="bench", timeout_s=60, **publisher.TUNING)
                for name, cls in kinds.items()
            }
            for p in producers.values():  # started, and one transaction done, before measuring
                await p.publish([messaging.Record(topic, b"{}", b"warm", headers)])
            best = dict.fromkeys(producers, float("inf"))
            for _ in range(REPEAT):
                for name, producer in producers.items():
                    gc.collect()
                    start = time.process_time()
                    for batch in prepared:
                        records = [
                            messaging.Record(topic, v, k, [(messaging.EVENT_TYPE, kind), *headers])
                            for v, k, kind in batch.records
                        ]
                        await producer.publish(records)
                    best[name] = min(best[name], time.process_time() - start)
            for name, seconds in best.items():
                print(f"publish {name}: {seconds / n * 1000:.4f} CPU ms/event ({n:,} events, one transaction per body)")
            for p in producers.values():
                await p.stop()
        finally:
            await admin.delete_topics([topic])
            await admin.close()

    asyncio.run(run())


def http(bodies: list[bytes]) -> None:
    import asyncio
    import threading
    import uuid

    import httpx
    import psutil

    from services.intake.app import create_app
    from shared.kafka import ensure_topics
    from shared.settings import IntakeSettings, Settings
    from testkit.infra import LOCAL_DATABASE, LOCAL_KAFKA, create_database, drop_database, new_run_prefix

    n = sum(b.count(b'"nik"') for b in bodies)
    me = psutil.Process()

    async def run() -> None:
        name = f"pbi_b_{uuid.uuid4().hex[:12]}"
        url = await create_database(LOCAL_DATABASE, name)
        prefix = new_run_prefix("decode")
        settings = Settings(kafka_bootstrap_servers=LOCAL_KAFKA, database_url=url, topic_prefix=prefix, log_json=False)
        try:
            await ensure_topics(settings)
            app = create_app(IntakeSettings(**settings.model_dump()))
            async with app.router.lifespan_context(app):
                key = await app.state.api_keys.issue("bench", ["events:write"])
                headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=120) as client:
                    warm = await client.post("/v1/events", content=bodies[0], headers=headers)  # starts the worker
                    assert warm.status_code == 202, warm.text[:300]
                    [pid] = app.state.bulk.pids()
                    worker = psutil.Process(pid)
                    first = worker.memory_info().rss / 2**20
                    peak, done = [0.0, 0.0], threading.Event()

                    def sample() -> None:
                        while not done.is_set():
                            rss = worker.memory_info().rss / 2**20
                            peak[0] = max(peak[0], rss + me.memory_info().rss / 2**20)
                            peak[1] = max(peak[1], rss)
                            done.wait(0.05)

                    sampler = threading.Thread(target=sample, daemon=True)
                    sampler.start()
                    cpu0, wcpu0 = sum(me.cpu_times()[:2]), sum(worker.cpu_times()[:2])
                    gate = asyncio.Semaphore(2)

                    async def post(body: bytes) -> None:
                        async with gate:
                            r = await client.post("/v1/events", content=body, headers=headers)
                            assert r.status_code == 202, r.text[:300]

                    await asyncio.gather(*(post(b) for b in bodies))
                    cpu, wcpu = sum(me.cpu_times()[:2]) - cpu0, sum(worker.cpu_times()[:2]) - wcpu0
                    done.set()
                    sampler.join()
            print(
                f"http: intake's process {cpu / n * 1000:.4f} + its worker {wcpu / n * 1000:.4f} = "
                f"{(cpu + wcpu) / n * 1000:.4f} CPU ms/event ({n:,} events in bodies of {BATCH:,}, two in flight); "
                f"peak RSS together {peak[0]:.0f} MB, the worker's {peak[1]:.0f} MB "
                f"({first:.0f} MB after its first batch)"
            )
        finally:
            await drop_database(LOCAL_DATABASE, name)

    asyncio.run(run())


def decode(values: list[bytes]) -> None:
    records = [
        ConsumerRecord("pbi." + PARTICIPANT_EVENTS.name, 0, i, 0, 0, None, v, None, len(v), 0, [])
        for i, v in enumerate(values)
    ]
    consumers: dict[str, TypeAdapter[Any]] = {
        "eligibility (participant_event_adapter)": shared_events.participant_event_adapter,
        "registry, notifier (any_event_adapter)": shared_events.any_event_adapter,
    }
    for name, adapter in consumers.items():

        def decode_all(adapter: TypeAdapter[Any] = adapter) -> list[Any]:
            return [kafka.decode_record(r, adapter) for r in records]

        seconds, decoded = _best(decode_all)
        assert len(decoded) == len(records)
        print(f"decode {name}: {seconds / len(records) * 1000:.4f} CPU ms/record ({len(records):,} records)")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 20_000
    bodies = bodies_of(n)
    if "--profile" in sys.argv:
        from pyinstrument import Profiler

        what = sys.argv[sys.argv.index("--profile") + 1]
        profiler = Profiler(interval=0.0005)
        values = intake(bodies) if what == "decode" else []
        profiler.start()
        if what == "intake":
            intake(bodies)
        else:
            decode(values)
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
        return
    if "--http" in sys.argv:
        http(bodies)
        return
    values = intake(bodies)
    if "--kafka" in sys.argv:
        publish(bodies)
    decode(values)


if __name__ == "__main__":
    main()

"""CPU per wave event of intake's batch preparation and of a consumer's record decoding, in this process
alone (no Kafka, no database): what issue 20's "intake and decoding" work changes.

    .venv/bin/python -m bench.decode [N] [--profile intake|decode]

- intake: `services.intake.bulk.prepare` on 5,000-event bodies of the wave (what the bulk worker does
  with a POST's bytes: parse, scope check, stamp, validate, encode), then the records the worker hands
  its producer; CPU ms per event and the Python heap's peak (tracemalloc) for one body.
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
    decode(intake(bodies))


if __name__ == "__main__":
    main()

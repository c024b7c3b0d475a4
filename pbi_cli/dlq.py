"""`pbi dlq list|peek|replay`: inspect dead-letter topics and send their records back.

`shared.kafka.DeadLetters` parks a record on `<topic>.dlq` with its original value and key and
the reason in headers (`x-dlq-reason`, `x-original-topic`, ...). Once the cause is fixed (a new
release, a corrected reference table), `pbi dlq replay TOPIC` republishes every parked record to
its original topic. Replay commits its own consumer group on the dead-letter topic after each
batch is acknowledged by the broker, so running it twice does not send anything twice. A crash
between publish and commit may resend a batch: the services de-duplicate on `event_id`.
Reasons and keys are shown with NIKs and phone numbers masked (shared.masking).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.progress import Progress
from rich.table import Table

from pbi_cli.common import console, run
from shared.kafka import HEADER_ERROR, HEADER_ORIGIN, HEADER_REASON
from shared.kafka_security import kafka_client_options
from shared.masking import mask_personal_data
from shared.messaging import DirectPublisher, Record
from shared.settings import Settings
from shared.topics import CATALOGUE

app = typer.Typer(help="Inspect and replay dead-letter topics.", no_args_is_help=True)

DLQ_SUFFIX = ".dlq"
HEADER_REPLAYED_FROM = "x-replayed-from"
# Headers DeadLetters adds; they describe the failure, not the event, so a replay drops them.
_DLQ_HEADER_PREFIXES = ("x-dlq-", "x-original-", "x-retry-count", "x-consumer-group", HEADER_REPLAYED_FROM)


# ---------- pure parts ----------


def parse_headers(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Kafka headers as text (the last value wins when a key repeats)."""
    return {k: (v or b"").decode(errors="replace") for k, v in (headers or ())}


def dlq_topic_name(topic: str, prefix: str = "") -> str:
    """`pbi.decisions.v1` or `pbi.decisions.v1.dlq` -> `<prefix>pbi.decisions.v1.dlq`."""
    name = topic if not prefix or topic.startswith(prefix) else prefix + topic
    return name if name.endswith(DLQ_SUFFIX) else name + DLQ_SUFFIX


def original_topic(dlq_topic: str, headers: dict[str, str]) -> str:
    """Where the record came from: the `x-original-topic` header, which must match the DLQ's name.

    A header naming another topic is refused: replay never writes anywhere but the topic whose
    dead-letter topic it is reading."""
    expected = dlq_topic.removesuffix(DLQ_SUFFIX)
    origin = headers.get(HEADER_ORIGIN) or expected
    if origin != expected:
        raise ValueError(f"record names original topic {origin!r}, but it sits on {dlq_topic!r}")
    return origin


def replay_headers(headers: dict[str, str], dlq_topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """The record's own headers (correlation id...) without the failure headers, plus where it came from."""
    kept = [(k, v.encode()) for k, v in headers.items() if not k.startswith(_DLQ_HEADER_PREFIXES)]
    return [*kept, (HEADER_REPLAYED_FROM, f"{dlq_topic}:{partition}:{offset}".encode())]


def masked_reason(headers: dict[str, str]) -> str:
    return mask_personal_data(headers.get(HEADER_REASON) or headers.get(HEADER_ERROR) or "(no reason)")


def peek_row(at: str, key: bytes | None, raw_headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """What `pbi dlq peek` shows of one parked record: the key (a NIK) and every text masked."""
    headers = parse_headers(raw_headers)
    return {
        "at": at,
        "key": mask_personal_data((key or b"").decode(errors="replace")),
        "reason": masked_reason(headers),
        "error": mask_personal_data(headers.get(HEADER_ERROR, "")),
        "origin": headers.get(HEADER_ORIGIN, ""),
    }


def replay_group(dlq_topic: str) -> str:
    return f"pbi-dlq-replay.{dlq_topic}"


# ---------- Kafka ----------


@dataclass
class ReplayResult:
    dlq_topic: str
    replayed: int = 0
    skipped: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)


async def _consumer(settings: Settings, group: str | None) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        **kafka_client_options(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    return consumer


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """The topic's partition ids; LookupError when it does not exist."""
    admin = AIOKafkaAdminClient(**kafka_client_options(settings), request_timeout_ms=15_000)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        raise LookupError(f"topic {topic!r} does not exist")
    return sorted(p["partition"] for p in described["partitions"])


async def _assign(
    consumer: AIOKafkaConsumer, topic: str, ids: list[int], use_committed: bool
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Assign every partition; return (start, end): start = the group's committed offset or the beginning."""
    tps = [TopicPartition(topic, p) for p in sorted(ids)]
    consumer.assign(tps)
    beginning = await consumer.beginning_offsets(tps)
    end = await consumer.end_offsets(tps)
    start = {}
    for tp in tps:
        committed = await consumer.committed(tp) if use_committed else None
        start[tp] = max(committed if committed is not None else 0, beginning[tp])
        consumer.seek(tp, start[tp])
    return start, end


async def replay(
    settings: Settings,
    topic: str,
    *,
    dry_run: bool = False,
    group: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Republish what the DLQ holds beyond this group's committed offset, up to its end when we started."""
    dlq = dlq_topic_name(topic, settings.topic_prefix)
    result = ReplayResult(dlq)
    ids = await partitions_of(settings, dlq)
    consumer = await _consumer(settings, group or replay_group(dlq))
    producer = None if dry_run else DirectPublisher.for_settings(settings)
    try:
        start, end = await _assign(consumer, dlq, ids, use_committed=True)
        total = sum(max(0, end[tp] - start[tp]) for tp in start)
        done = 0
        remaining = {tp for tp in start if start[tp] < end[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=500)
            commit: dict[TopicPartition, int] = {}
            sends: list[Record] = []
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= end[tp]:
                        break
                    headers = parse_headers(record.headers)
                    result.reasons[masked_reason(headers)] += 1
                    try:
                        target = original_topic(dlq, headers)
                    except ValueError as exc:
                        console.print(f"[yellow]skipped[/yellow] {tp.partition}:{record.offset}: {exc}")
                        result.skipped += 1
                    else:
                        result.by_topic[target] += 1
                        if producer is not None:
                            hdrs = replay_headers(headers, dlq, record.partition, record.offset)
                            sends.append(Record(target, record.value or b"", record.key, hdrs))
                        result.replayed += 1
                    commit[tp] = record.offset + 1
                    done += 1
            if producer is not None:
                await producer.publish(sends)  # every record acknowledged by the broker before its offset is committed
            if commit and not dry_run:
                await consumer.commit(commit)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if on_progress:
                on_progress(done, total)
        return result
    finally:
        if producer is not None:
            await producer.stop()
        await consumer.stop()


@dataclass
class DlqStats:
    topic: str
    total: int
    pending: int  # not yet replayed by the replay group


async def stats(settings: Settings) -> list[DlqStats]:
    out = []
    for spec in CATALOGUE:
        if not spec.has_dlq:
            continue
        dlq = dlq_topic_name(spec.name, settings.topic_prefix)
        try:
            ids = await partitions_of(settings, dlq)
        except LookupError:
            continue
        group = await _consumer(settings, replay_group(dlq))
        try:
            start, end = await _assign(group, dlq, ids, use_committed=True)
            tps = list(end)
            begin = await group.beginning_offsets(tps)
            total = sum(end[tp] - begin[tp] for tp in tps)
            out.append(DlqStats(dlq, total, sum(max(0, end[tp] - start[tp]) for tp in tps)))
        finally:
            await group.stop()
    return out


async def peek(settings: Settings, topic: str, limit: int) -> list[dict[str, str]]:
    """The first `limit` records of a DLQ, reasons masked; reads without a group (commits nothing)."""
    dlq = dlq_topic_name(topic, settings.topic_prefix)
    consumer = await _consumer(settings, None)
    rows: list[dict[str, str]] = []
    try:
        start, end = await _assign(consumer, dlq, await partitions_of(settings, dlq), use_committed=False)
        remaining = {tp for tp in start if start[tp] < end[tp]}
        while remaining and len(rows) < limit:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=limit)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < end[tp] and len(rows) < limit:
                        rows.append(peek_row(f"{tp.partition}:{record.offset}", record.key, record.headers))
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return rows


# ---------- commands ----------


@app.command("list")
def list_() -> None:
    """Every dead-letter topic: records held and records not yet replayed."""
    table = Table("dead-letter topic", "records", "not replayed")
    for item in run(stats):
        table.add_row(item.topic, str(item.total), str(item.pending))
    console.print(table)


@app.command("peek")
def peek_(
    topic: Annotated[str, typer.Argument(help="The topic or its .dlq, e.g. pbi.decisions.v1")],
    limit: Annotated[int, typer.Option(help="How many records to show")] = 20,
) -> None:
    """Show the first records of a dead-letter topic and a tally of their reasons (NIKs and phones masked)."""
    rows = run(lambda s: peek(s, topic, limit))
    table = Table("partition:offset", "key", "error", "reason")
    for row in rows:
        table.add_row(row["at"], row["key"], row["error"], row["reason"])
    console.print(table)
    for reason, n in Counter(r["reason"] for r in rows).most_common():
        console.print(f"{n:>6}  {reason}")


@app.command("replay")
def replay_(
    topic: Annotated[str, typer.Argument(help="The topic or its .dlq, e.g. pbi.decisions.v1")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count and show reasons; publish and commit nothing")
    ] = False,
    group: Annotated[str | None, typer.Option(help="Replay consumer group (default pbi-dlq-replay.<dlq>)")] = None,
) -> None:
    """Republish every parked record to its original topic, once."""
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run(lambda s: replay(s, topic, dry_run=dry_run, group=group, on_progress=on_progress))
    verb = "would replay" if dry_run else "replayed"
    console.print(f"{verb} {result.replayed} record(s) from {result.dlq_topic}; skipped {result.skipped}")
    for target, n in result.by_topic.items():
        console.print(f"  -> {target}: {n}")
    for reason, n in result.reasons.most_common(10):
        console.print(f"{n:>6}  {reason}")

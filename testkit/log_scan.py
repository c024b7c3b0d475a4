"""Personal data in logs: a whole NIK (16 digits) or an Indonesian mobile number must never appear in
what the services write; and every line they write is one JSON object (shared.observability). Used by
the end-to-end test and by the scan at the end of every test run.

Besides the service logs, the e2e fixtures leave two more files beside them for the same scan: every
span the services exported (`traces-*.log`, one JSON line per span: name and attributes) and the
headers of every dead-lettered record (`dead-letters.log`: reasons, errors). Record keys and values
are not written there: the key is the NIK by design (partitioning), as is an event's subject."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Bounded by anything but letters and digits: the digits inside a hex id (a correlation id, a UUID)
# are not a phone number.
NIK_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{16}(?![0-9A-Za-z])")
PHONE_PATTERN = re.compile(r"(?<![0-9A-Za-z])(?:\+?62|0)8\d{8,11}(?![0-9A-Za-z])")
ROOT = Path(__file__).resolve().parents[1]
# Where the service processes of e2e, browser, demo and chaos runs write their logs.
SERVICE_LOG_DIRS = [ROOT / "test-artifacts", ROOT / ".run" / "chaos-logs"]


def leaks(text: str) -> list[str]:
    """Masked excerpts of the offending matches (the report must not leak them either)."""
    found = NIK_PATTERN.findall(text) + PHONE_PATTERN.findall(text)
    return [f"{m[:4]}…{m[-3:]} ({len(m)} chars)" for m in found]


def not_json(text: str) -> list[str]:
    """Lines that are not one JSON object each (a plain-text library line, a message's newline breaking
    its line): named by number, with a masked excerpt."""
    bad = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if not ok and line.strip():
            bad.append(f"line {number} is not a JSON object: {mask_for_report(line[:80])!r}")
    return bad


def mask_for_report(text: str) -> str:
    return PHONE_PATTERN.sub("<phone>", NIK_PATTERN.sub("<nik>", text))


def scan_logs_written_since(started: float) -> dict[str, list[str]]:
    """Every service log file written to during this run -> its leaks and lines that are not JSON
    (only files with some)."""
    report: dict[str, list[str]] = {}
    for base in SERVICE_LOG_DIRS:
        for path in base.rglob("*.log") if base.exists() else ():
            if path.stat().st_mtime < started:
                continue
            text = path.read_text(errors="replace")
            if found := leaks(text)[:5] + not_json(text)[:5]:
                report[str(path.relative_to(ROOT))] = found
    return report


def span_lines(spans: Iterable[Any]) -> str:
    """One JSON line per exported span (tests.e2e.otlp.ReceivedSpan or alike): what a trace backend shows."""
    return "".join(
        json.dumps({"service": s.service, "name": s.name, "attributes": dict(s.attributes)}, ensure_ascii=False) + "\n"
        for s in spans
    )


def dead_letter_lines(records: Iterable[tuple[str, Mapping[str, str]]]) -> str:
    """One JSON line per dead-lettered record: its topic and headers (x-dlq-reason, x-dlq-error, ...)."""
    return "".join(json.dumps({"topic": t, "headers": dict(h)}, ensure_ascii=False) + "\n" for t, h in records)


async def dead_letter_headers(bootstrap: str, prefix: str) -> list[tuple[str, dict[str, str]]]:
    """Headers of every record on the dead-letter topics named with `prefix`."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix) and t.endswith(".dlq")]
    finally:
        await admin.close()
    if not topics:
        return []
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[str, dict[str, str]]] = []
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh consumer knows no topics yet
            partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        # Read up to what the topics hold now (their end offsets), not until a quiet spell.
        end = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(*partitions, timeout_ms=1000)).values():
                found += [(r.topic, {k: (v or b"").decode(errors="replace") for k, v in r.headers}) for r in records]
    finally:
        await consumer.stop()
    return found


def now() -> float:
    return time.time()

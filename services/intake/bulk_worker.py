"""The bulk worker process (bulk.py's other half): reads requests from its pipe, prepares batches in
a thread, one at a time (so one batch is validated while the other is being published, and a single
parsed body is in memory at once), and publishes each in one Kafka transaction with its own producer,
on its own event loop. Answers go back on the pipe as (job, result). Everything here runs in the
worker, never in the HTTP process; and the worker imports only this module's imports (no web
framework, no database: 35 MB less resident than with bulk.py's), so keep them so."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from services.intake.domain.idempotency import body_hash
from services.intake.events_body import InvalidBody, decode_body, encode_events, event_types, validated_chunks
from services.intake.publisher import PUBLISH_TIMEOUT_S, TUNING
from shared.kafka_security import kafka_client_options
from shared.messaging import EVENT_TYPE, BatchPublisher, PublishFailed, Record
from shared.process import BULK_NICENESS, die_with_parent, lower_cpu_priority
from shared.runtime import tune_for_latency
from shared.settings import Settings


@dataclass(frozen=True)
class Prepared:
    """A valid batch, ready to send: (value, key, event type) per event, in order."""

    records: list[tuple[bytes, bytes, bytes]]
    event_ids: list[str]
    digest: str | None  # the body's fingerprint for Idempotency-Key, when asked for


@dataclass(frozen=True)
class Invalid:
    errors: list[dict[str, Any]]  # as RequestValidationError has them: loc, msg, type


@dataclass(frozen=True)
class Forbidden:
    event_types: list[str]  # the key may not post these (403)


@dataclass(frozen=True)
class Batch:
    """What the HTTP process gets back for a valid batch (its records stay in the worker)."""

    job: int
    event_ids: list[str]
    digest: str | None


def prepare(
    raw: bytes, with_digest: bool, source: str | None = None, forbidden: frozenset[str] = frozenset()
) -> Prepared | Invalid | Forbidden:
    """Everything CPU-heavy about a batch, nothing that does I/O. A type among `forbidden` (those the key
    may not post: bulk.forbidden_types) refuses the batch (403) before it is validated, as for a small
    one. Each part of the batch is encoded as soon as it is validated and its models let go."""
    records: list[tuple[bytes, bytes, bytes]] = []
    event_ids: list[str] = []
    try:
        body = decode_body(raw)
        if forbidden and (refused := sorted(event_types(body) & forbidden)):
            return Forbidden(refused)
        for events in validated_chunks(body, source):
            records += encode_events(events)
            event_ids += [str(e.event_id) for e in events]
    except InvalidBody as exc:
        return Invalid(
            [{"loc": tuple(e["loc"]), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in exc.errors()]
        )
    return Prepared(records, event_ids, body_hash(body) if with_digest else None)


PARENT_WATCH_S = 1.0


def _at_bulk_priority() -> None:
    """A wave's validation is bulk work, whichever process owns the worker: it takes the bulk roles' priority
    (shared.process.BULK_NICENESS, relative to its owner's) in a session of its own, so that its scheduling group
    is niced too (shared.process.lower_cpu_priority). In its owner's session it shared the urgent process's one
    equal share with the hospital endpoint, at the same niceness. Its owner still ends it (_die_with)."""
    try:
        os.setsid()
    except OSError:  # already a session or group leader: its niceness alone
        pass
    lower_cpu_priority(BULK_NICENESS)()


def _die_with(parent: int) -> None:
    """End this process when `parent` (the intake process) ends."""
    # The kernel's way (PR_SET_PDEATHSIG): SIGKILL to us when the thread that started us ends (the event
    # loop's). Not Linux: nothing, the watch below does it.
    die_with_parent(signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)

    def watch() -> None:  # also covers a parent whose starting thread is not the one that lives on
        while os.getppid() == parent:
            threading.Event().wait(PARENT_WATCH_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(conn: Connection, parent: int, settings: Settings, transactional_id: str | None = None) -> None:
    """The worker process's main: until its pipe closes."""
    _die_with(parent)
    _at_bulk_priority()
    tune_for_latency()  # as every service process: a batch's objects made the default collector's full scans cost
    asyncio.run(Worker(conn, settings, transactional_id).run())


class Worker:
    def __init__(self, conn: Connection, settings: Settings, transactional_id: str | None = None) -> None:
        """`transactional_id`: the one its owner leased for it (bulk.BulkWorker), which the worker that replaces
        this one after a crash starts with; else one of its own."""
        self.conn = conn
        options: dict[str, Any] = {"timeout_s": PUBLISH_TIMEOUT_S * 3, **TUNING}
        self.publisher = (
            BatchPublisher(kafka_client_options(settings), transactional_id=transactional_id, **options)
            if transactional_id
            else BatchPublisher.for_settings(settings, transactional="intake", **options)
        )
        self.batches: dict[int, Prepared] = {}
        self.validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare")
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()

        def read() -> None:  # a thread: a 2 MB body arrives while the loop publishes
            while True:
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    loop.call_soon_threadsafe(inbox.put_nowait, None)
                    return
                loop.call_soon_threadsafe(inbox.put_nowait, message)

        threading.Thread(target=read, name="pipe-reader", daemon=True).start()
        # Started at once, not on the first batch: a transaction the worker before this one left open when it
        # died (under the same leased id) is aborted now. A failure here is the first publish's to report.
        starting = asyncio.create_task(self.publisher.start())
        starting.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            while (message := await inbox.get()) is not None:
                self.handle(*message)
        finally:
            await asyncio.wait_for(self.publisher.stop(), 10)

    def handle(self, op: str, job: int, *args: Any) -> None:
        if op == "drop":
            self.batches.pop(job, None)
            return
        work = self.prepare(job, *args) if op == "prepare" else self.publish(job, *args)
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def answer(self, job: int, result: Any) -> None:
        try:
            self.conn.send((job, result))
        except (OSError, ValueError):  # the owner is gone: so are we, soon
            pass

    async def prepare(self, job: int, raw: bytes, with_digest: bool, source: str | None, scopes: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.validator, prepare, raw, with_digest, source, scopes)
        except Exception as exc:  # noqa: BLE001 - a bug: the request gets a 500, the worker lives on
            self.answer(job, RuntimeError(f"preparing the batch failed: {exc!r}"[:500]))
            return
        if isinstance(result, Prepared):
            self.batches[job] = result
            self.answer(job, Batch(job, result.event_ids, result.digest))
        else:
            self.answer(job, result)

    async def publish(self, job: int, topic: str, headers: list[tuple[str, bytes]]) -> None:
        """None once Kafka acknowledged the whole batch, else the failure (PublishFailed: a 503)."""
        batch = self.batches.pop(job, None)
        if batch is None:
            self.answer(job, RuntimeError("the batch was not prepared in this worker"))
            return
        records = [Record(topic, value, key, [(EVENT_TYPE, kind), *headers]) for value, key, kind in batch.records]
        try:
            await self.publisher.publish(records)
        except PublishFailed as exc:
            self.answer(job, PublishFailed(str(exc) or "Kafka did not acknowledge the batch"))
        except Exception as exc:  # noqa: BLE001 - whatever it was, the batch is not known to be published
            self.answer(job, PublishFailed(f"publishing the batch failed: {exc!r}"[:500]))
        else:
            self.answer(job, None)

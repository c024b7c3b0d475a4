"""Big batches of events are decoded, validated, fingerprinted, encoded and published by a worker process.

Validating 5,000 events is most of a CPU-second of pydantic, and parsing the 2 MB body, encoding the
records and handing them to a Kafka producer another few hundred milliseconds of Python: all of it in
the HTTP process would hold the interpreter lock its event loop needs to answer a hospital. So the HTTP
process only moves bytes: the request's body goes to the worker as it came (never parsed here), the
worker answers with the batch's ids and fingerprint (`prepare`), and once the Idempotency-Key is
claimed it publishes the batch in one Kafka transaction with its own producer (`publish`), answering
when Kafka acknowledged. The worker keeps the batch's records in between (`drop` forgets them).

The worker never outlives the intake process that owns it, however that one ends (SIGKILL too): the
kernel kills it when its parent dies (Linux PR_SET_PDEATHSIG), a thread in it watches the parent's pid
where that is not available, and it ends when its pipe closes. It runs at the bulk roles' priority, below its
owner's, in a session of its own (bulk_worker._at_bulk_priority). The process side is bulk_worker.py."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi.exceptions import RequestValidationError

from services.intake.bulk_worker import Batch, Forbidden, Invalid
from shared.auth import forbidden_event_types
from shared.auth.scopes import EVENT_SCOPES
from shared.kafka_security import kafka_client_options
from shared.messaging import DirectPublisher, IdLease
from shared.settings import Settings

log = structlog.get_logger(__name__)


def forbidden_types(scopes: frozenset[str]) -> frozenset[str]:
    """The event types a key with `scopes` may not post: the worker refuses a batch naming one (403),
    without importing the keys' module (and its database) to ask."""
    return frozenset(forbidden_event_types(scopes, EVENT_SCOPES))


class BulkWorkerUnavailable(Exception):
    """The worker process died (killed, out of memory): the client should retry (HTTP 503)."""


GONE = "the batch worker stopped; nothing was accepted, please retry"


class BatchForbidden(Exception):
    def __init__(self, event_types: list[str]) -> None:
        super().__init__(", ".join(event_types))
        self.event_types = event_types


@dataclass
class _Process:
    """One worker process and its pipe; `dead` once the pipe broke (the next call starts another);
    `held`: the jobs of the prepared batches in its memory, only it can publish them."""

    process: Any
    conn: Any
    pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    dead: bool = False
    transactional_id: str | None = None

    def send(self, message: tuple[Any, ...]) -> None:
        """Blocking (a 2 MB body fills the pipe until the worker reads it): called in a thread."""
        with self.send_lock:
            self.conn.send(message)

    def read(self) -> None:
        """The reader thread: each answer to its waiting request, every waiting request failed at the end."""
        while True:
            try:
                job, result = self.conn.recv()
            except (EOFError, OSError):
                break
            self._resolve(job, result)
        self.dead = True
        for job in list(self.pending):
            self._resolve(job, BulkWorkerUnavailable(GONE))

    def _resolve(self, job: int, result: Any) -> None:
        loop, future = self.pending.pop(job, (None, None))
        if loop is None or future is None or loop.is_closed():
            return

        def settle() -> None:
            if not future.done():
                future.set_result(result)

        loop.call_soon_threadsafe(settle)


class BulkWorker:
    """One worker process, started on first use; a dead one is replaced on the next batch.

    With a lease of transactional ids (the HTTP process's, shared.tx_lease) the worker publishes under
    "<leased id>-worker": the worker that replaces a dead one, or the next intake process's, starts with that id
    and so aborts what the dead one left open at once (Kafka would hold back every reader of those partitions
    until its transaction timeout, a minute)."""

    def __init__(self, settings: Settings, transactional_ids: IdLease | None = None) -> None:
        self.settings, self.lease = settings, transactional_ids
        self._current: _Process | None = None
        self._jobs = itertools.count(1)
        self._spawning = asyncio.Lock()

    async def _worker_id(self) -> str | None:
        return None if self.lease is None else f"{await self.lease.current()}-worker"

    async def _started(self) -> _Process:
        async with self._spawning:
            transactional_id = await self._worker_id()
            current = self._current
            if current is not None and not current.dead:
                if current.transactional_id == transactional_id:
                    return current
                # The lease was lost and taken again under another id: the old one may be another process's.
                await asyncio.to_thread(self.stop)
            return self._spawn(transactional_id)

    async def take_over(self) -> None:
        """A transaction the worker of a crashed predecessor left open under this process's worker id is aborted
        now, by a producer started and stopped with that id, unless a worker runs (its producer did it)."""
        async with self._spawning:
            transactional_id = await self._worker_id()
            if transactional_id is None or (self._current is not None and not self._current.dead):
                return
            async with DirectPublisher(kafka_client_options(self.settings), transactional_id=transactional_id) as p:
                await p.start()

    def _spawn(self, transactional_id: str | None) -> _Process:
        from services.intake.bulk_worker import serve

        # spawn: forking a process that runs an event loop and Kafka clients would copy their state.
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe()
        process = context.Process(
            target=serve,
            args=(theirs, os.getpid(), self.settings, transactional_id),
            name="intake-bulk-worker",
            daemon=True,
        )
        # A spawned child runs the parent's main script again (here `pbi`, which imports every command
        # and service: 40 MB more), or imports its main module when started with `python -m`; it needs
        # only its own modules, so both are hidden meanwhile.
        main = sys.modules["__main__"]
        script = main.__dict__.pop("__file__", None)
        spec, main.__spec__ = getattr(main, "__spec__", None), None
        try:
            process.start()
        finally:
            main.__spec__ = spec
            if script is not None:
                main.__file__ = script
        theirs.close()
        self._current = _Process(process, mine, transactional_id=transactional_id)
        threading.Thread(target=self._current.read, name="bulk-worker-reader", daemon=True).start()
        return self._current

    async def _call(self, worker: _Process, job: int, *message: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        worker.pending[job] = (loop, future)
        try:
            await asyncio.to_thread(worker.send, message)
        except (OSError, ValueError) as exc:  # the pipe is broken or closed
            worker.pending.pop(job, None)
            worker.dead = True
            raise BulkWorkerUnavailable(GONE) from exc
        result = await future
        if isinstance(result, BulkWorkerUnavailable):
            log.warning("bulk_worker_died")
        if isinstance(result, Exception):  # PublishFailed (503), a dead worker (503), a bug (500)
            raise result
        return result

    async def prepare(
        self, raw: bytes, with_digest: bool, source: str | None = None, scopes: frozenset[str] | None = None
    ) -> Batch:
        """Decoded, checked and validated in the worker: 403 (BatchForbidden) or 422 for the whole batch."""
        job = next(self._jobs)
        forbidden = forbidden_types(scopes) if scopes is not None else frozenset()
        worker = await self._started()
        result = await self._call(worker, job, "prepare", job, raw, with_digest, source, forbidden)
        if isinstance(result, Invalid):
            raise RequestValidationError(result.errors)
        if isinstance(result, Forbidden):
            raise BatchForbidden(result.event_types)
        worker.held.add(job)
        return result  # type: ignore[no-any-return]

    async def publish(self, batch: Batch, topic: str, headers: list[tuple[str, bytes]]) -> None:
        """The prepared batch in one Kafka transaction to `topic` (full name) with `headers` on every
        record; returns once Kafka acknowledged, else raises PublishFailed. Only the worker that prepared it
        holds its records: if that one died meanwhile, BulkWorkerUnavailable (503), never its successor's
        "not prepared in this worker" (a 500 the client would not retry)."""
        worker = self._current
        if worker is None or worker.dead or batch.job not in worker.held:
            log.warning("bulk_worker_died")
            raise BulkWorkerUnavailable(GONE)
        worker.held.discard(batch.job)
        await self._call(worker, batch.job, "publish", batch.job, topic, headers)

    async def drop(self, batch: Batch) -> None:
        """The batch will not be published (an Idempotency-Key replay or conflict): the worker forgets it."""
        current = self._current
        if current is not None and not current.dead and batch.job in current.held:
            current.held.discard(batch.job)
            try:
                await asyncio.to_thread(current.send, ("drop", batch.job))
            except (OSError, ValueError):
                pass

    def pids(self) -> list[int]:
        """The worker's process id, once started (tests, operators)."""
        current = self._current
        return [current.process.pid] if current is not None and not current.dead else []

    def stop(self) -> None:
        current, self._current = self._current, None
        if current is None:
            return
        current.conn.close()  # the worker ends when its pipe closes
        current.process.join(5)
        if current.process.is_alive():
            current.process.kill()
            current.process.join(5)

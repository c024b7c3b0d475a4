"""Big batches of events are decoded, validated, fingerprinted and encoded in a worker process.

Validating 5,000 events is most of a CPU-second of pydantic. In a thread it still holds the
interpreter lock the event loop needs to answer a hospital: during a 200,000-event wave an
emergency's POST -> 202 reached p99 2 s. A process has its own interpreter; the event loop only
hands it the request's bytes and sends what comes back to Kafka.

The worker never outlives the intake process that owns it, however that one ends (SIGKILL too):
the kernel kills it when its parent dies (Linux PR_SET_PDEATHSIG), and a thread in it watches the
parent's pid where that is not available. Its CPU priority is its owner's (the launcher's or the
cluster's business, not this code's)."""

from __future__ import annotations

import asyncio
import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi.exceptions import RequestValidationError

from services.intake.domain.idempotency import body_hash
from services.intake.events_body import encode_events, parse_events

log = structlog.get_logger(__name__)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_WATCH_S = 1.0


@dataclass(frozen=True)
class Prepared:
    """A valid batch, ready to send: (value, key, event type) per event, in order."""

    records: list[tuple[bytes, bytes, bytes]]
    event_ids: list[str]
    digest: str | None  # the body's fingerprint for Idempotency-Key, when asked for


@dataclass(frozen=True)
class Invalid:
    errors: list[dict[str, Any]]  # as RequestValidationError has them: loc, msg, type


def prepare(raw: bytes, with_digest: bool, source: str | None = None) -> Prepared | Invalid:
    """Runs in the worker: everything CPU-heavy about a batch, nothing that does I/O."""
    body = json.loads(raw)  # already parsed once by FastAPI: it is valid JSON
    try:
        events = parse_events(body, source)
    except RequestValidationError as exc:
        return Invalid(
            [{"loc": tuple(e["loc"]), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in exc.errors()]
        )
    return Prepared(
        encode_events(events),
        [str(e.event_id) for e in events],
        body_hash(body) if with_digest else None,
    )


class BulkWorkerUnavailable(Exception):
    """The worker process died (killed, out of memory): the client should retry (HTTP 503)."""


def _die_with(parent: int) -> None:
    """The worker's initializer: end this process when `parent` (the intake process) ends."""
    try:  # the kernel's way: SIGKILL to us when the thread that started us ends (the event loop's)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watch below does it
        pass
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)

    def watch() -> None:  # also covers a parent whose starting thread is not the one that lives on
        while os.getppid() == parent:
            threading.Event().wait(PARENT_WATCH_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class BulkWorker:
    """One worker process, started on first use; a dead one is replaced on the next batch."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _submit(self, raw: bytes, with_digest: bool, source: str | None) -> Future[Prepared | Invalid]:
        if self._pool is not None:
            return self._pool.submit(prepare, raw, with_digest, source)
        # spawn: forking a process that runs an event loop and Kafka clients would copy their state.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_die_with,
            initargs=(os.getpid(),),
        )
        # The worker process starts inside the first submit. A spawned child runs the parent's main
        # script again (here `pbi`, which imports every command and service: 40 MB more); it needs
        # only this module, so the script is hidden while the child is prepared.
        main = sys.modules["__main__"]
        script = main.__dict__.pop("__file__", None)
        try:
            return self._pool.submit(prepare, raw, with_digest, source)
        finally:
            if script is not None:
                main.__file__ = script

    async def prepare(self, raw: bytes, with_digest: bool, source: str | None = None) -> Prepared:
        try:
            result = await asyncio.wrap_future(self._submit(raw, with_digest, source))
        except BrokenProcessPool as exc:
            log.warning("bulk_worker_died", error=str(exc)[:200])
            self.stop()
            raise BulkWorkerUnavailable("the batch worker stopped; nothing was accepted, please retry") from exc
        if isinstance(result, Invalid):
            raise RequestValidationError(result.errors)
        return result

    def pids(self) -> list[int]:
        """The worker's process id, once started (tests, operators)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

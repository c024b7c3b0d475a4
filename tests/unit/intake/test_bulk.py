"""What the bulk worker process computes for a big batch is what the event loop computes for a small one;
the worker process itself (no Kafka needed to prepare)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from fastapi.exceptions import RequestValidationError

from services.intake.bulk import BulkWorker, BulkWorkerUnavailable, forbidden_types
from services.intake.bulk_worker import Batch, Forbidden, Invalid, Prepared, prepare
from services.intake.domain.idempotency import body_hash
from services.intake.events_body import parse_events
from shared.process import BULK_NICENESS
from shared.settings import Settings
from testkit.bodies import deactivation
from testkit.polling import eventually


def batch(n: int) -> dict:
    return {"events": [deactivation(nik=f"3674015708{900001 + i:06d}") for i in range(n)]}


def test_a_valid_batch_is_encoded_in_order_with_ids_and_the_fingerprint() -> None:
    body = batch(250)
    prepared = prepare(json.dumps(body).encode(), with_digest=True)
    assert isinstance(prepared, Prepared)
    events = parse_events(body)
    assert prepared.event_ids == [str(e.event_id) for e in events]
    assert [json.loads(v)["event_id"] for v, _, _ in prepared.records] == prepared.event_ids
    assert [k for _, k, _ in prepared.records] == [e.kafka_key() for e in events]
    assert {t for _, _, t in prepared.records} == {b"participant.deactivated"}
    assert prepared.digest == body_hash(body)
    assert prepare(json.dumps(body).encode(), with_digest=False).digest is None  # type: ignore[union-attr]


def test_errors_name_the_event_and_field_like_the_event_loop_does() -> None:
    body = batch(250)
    body["events"][3]["nik"] = "123"
    body["events"][240]["reason"] = ""  # empty: malformed (an unknown code is kept as OTHER)
    invalid = prepare(json.dumps(body).encode(), with_digest=True)
    assert isinstance(invalid, Invalid)
    assert [e["loc"][:4] for e in invalid.errors] == [
        ("body", "events", 3, "participant.deactivated"),
        ("body", "events", 240, "participant.deactivated"),
    ]
    assert all(set(e) == {"loc", "msg", "type"} for e in invalid.errors)  # plain values: they cross processes


def test_a_key_without_the_scope_of_a_type_in_the_batch_is_refused_before_validation() -> None:
    body = batch(250)
    body["events"][7] = {"type": "participant.death_reported", "nik": "bad"}  # forbidden wins over invalid
    forbidden = forbidden_types(frozenset({"events:deactivations"}))
    refused = prepare(json.dumps(body).encode(), with_digest=False, forbidden=forbidden)
    assert refused == Forbidden(["participant.death_reported"])


@pytest.mark.parametrize(
    ("raw", "kind", "loc"),
    [(b"", "missing", ("body",)), (b'{"events": [', "json_invalid", ("body", 12))],
)
def test_an_empty_or_malformed_body_is_a_422_as_fastapi_answers_it(raw: bytes, kind: str, loc: tuple) -> None:  # type: ignore[type-arg]
    invalid = prepare(raw, with_digest=False)
    assert isinstance(invalid, Invalid)
    assert [(e["type"], e["loc"]) for e in invalid.errors] == [(kind, loc)]


async def test_the_worker_process_prepares_a_batch_and_a_killed_one_is_replaced() -> None:
    worker = BulkWorker(Settings())
    try:
        first = await worker.prepare(json.dumps(batch(3)).encode(), with_digest=True)
        assert len(first.event_ids) == 3 and first.digest == body_hash(batch(3))
        with pytest.raises(RequestValidationError):
            await worker.prepare(b"[1]", with_digest=False)
        [pid] = worker.pids()
        # Stopped, it can neither answer nor be seen dead: the next batch is surely handed to it (killed at once,
        # its death could be seen first under load, and that batch would go to a new worker).
        os.kill(pid, signal.SIGSTOP)
        handed = asyncio.Event()

        async def in_the_stopped_worker() -> Batch:
            handed.set()  # (prepare hands the body to the current worker before it first waits)
            return await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)

        lost = asyncio.create_task(in_the_stopped_worker())
        await handed.wait()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(BulkWorkerUnavailable):
            await lost
        again = await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)
        assert again.event_ids == first.event_ids and worker.pids() != [pid]

        # Killed between batches: once its death is seen (pids() is empty then), the next batch gets a new one.
        [second] = worker.pids()
        os.kill(second, signal.SIGKILL)
        await eventually(lambda: asyncio.sleep(0, not worker.pids()), timeout=60)
        assert (await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)).event_ids == first.event_ids
        assert worker.pids() not in ([pid], [second], [])
    finally:
        worker.stop()
    assert worker.pids() == []


async def test_a_batch_whose_worker_died_before_its_publish_is_a_503_never_sent_to_the_next_worker() -> None:
    """Prepared, then its worker dies and that is seen before the publish: the records died with it. The next
    worker does not know the batch (it answered "not prepared in this worker": a 500 the client would not
    retry); the batch gets a 503 like any other the dead worker held."""
    worker = BulkWorker(Settings())
    try:
        prepared = await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)
        [pid] = worker.pids()
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: asyncio.sleep(0, not worker.pids()), timeout=60)
        with pytest.raises(BulkWorkerUnavailable):
            await worker.publish(prepared, "pbi.never-published", [])
        assert (await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)).event_ids == prepared.event_ids
    finally:
        worker.stop()


class Lease:
    """Transactional ids as shared.tx_lease hands them out: the same until the lease is lost and taken again."""

    def __init__(self, current: str) -> None:
        self.id = current

    async def current(self) -> str:
        return self.id


async def test_the_worker_publishes_under_the_leased_id_and_is_replaced_when_the_lease_changes_it() -> None:
    """Its successor after a crash starts with the same id (and so aborts what it left open); an id leased again
    after the lease's connection was lost may be another process's by now, so the worker using it is replaced."""
    lease = Lease("intake-3")
    worker = BulkWorker(Settings(), lease)
    try:
        await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)
        [pid] = worker.pids()
        assert worker._current is not None and worker._current.transactional_id == "intake-3-worker"
        await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)
        assert worker.pids() == [pid]  # the same lease: the same worker
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: asyncio.sleep(0, not worker.pids()), timeout=60)
        await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)
        [successor] = worker.pids()
        assert successor != pid and worker._current.transactional_id == "intake-3-worker"  # the dead one's id
        lease.id = "intake-5"
        await worker.prepare(json.dumps(batch(3)).encode(), with_digest=False)
        assert worker.pids() not in ([successor], []) and worker._current.transactional_id == "intake-5-worker"
    finally:
        worker.stop()


def _autogroup_nice(pid: int) -> int | None:
    """The nice value of the process's session scheduling group (`/autogroup-123 nice 5`; shared.process)."""
    group = Path(f"/proc/{pid}/autogroup")
    return int(group.read_text().split()[-1]) if group.exists() else None


async def test_the_worker_validates_at_the_bulk_priority_in_a_session_of_its_own() -> None:
    """A wave's validation is bulk work: in its owner's session (an urgent process's) it shared the hospital
    endpoint's one share of the CPU at the same niceness. Its own session's scheduling group is niced too."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    worker = BulkWorker(Settings())
    try:
        await worker.prepare(json.dumps(batch(1)).encode(), with_digest=False)
        [pid] = worker.pids()
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(ours + BULK_NICENESS, 19)
        assert os.getsid(pid) == pid != os.getsid(0)
        group = _autogroup_nice(pid)
        assert group in (None, min(ours + BULK_NICENESS, 19))  # None: no autogroup on this kernel
    finally:
        worker.stop()

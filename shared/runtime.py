"""What every service process does the same way at run time: calmer garbage collection, and a
readiness check covering each consumer the process runs (its role's, shared.settings.Role).

Urgent and bulk work are separate processes (`pbi run <svc> --role urgent|bulk`); priority between
them is the operating system's (deploy/local/run.py) or the cluster's (PriorityClass), not this code's.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker

from shared.kafka import dead_consumers, stalled_consumers

# Cyclic garbage collection stops the whole interpreter; a full collection over the objects of a
# 500-record batch took up to a few hundred ms (measured with `make bench-eligibility`: an emergency
# decided during a 40,000-request backlog waited 50-700 ms in spikes every few seconds). Collect less
# often, and never scan what startup created.
GC_THRESHOLDS = (20_000, 50, 100)


def tune_for_latency() -> None:
    """Call once the service is wired (after imports and app creation)."""
    gc.collect()
    gc.freeze()  # startup objects live as long as the process: keep them out of every collection
    gc.set_threshold(*GC_THRESHOLDS)


def stop_if_cancelled(cause: BaseException | None = None) -> None:
    """Raise CancelledError when the running task was asked to stop (Task.cancelling), whatever became of the
    cancellation. A library may turn it into an error of its own (aiokafka's bootstrap on a loaded machine raised
    a connection error): a loop that logs that and tries again never ends, and whoever awaits it (a relay's
    stop(), a lifespan's shutdown) waits forever. Call it where such a loop catches an error or sees a failure."""
    if (task := asyncio.current_task()) is not None and task.cancelling():
        raise asyncio.CancelledError from cause


def consumers_alive(broker: KafkaBroker) -> Callable[[], Awaitable[None]]:
    """A liveness check (shared.observability.health_router): no consumer of this process has held one batch
    longer than shared.kafka.STALLED_AFTER_S, and none has lost one of aiokafka's background tasks
    (shared.kafka.dead_consumers). A stuck consumer (make chaos, session 24: an offset commit waiting forever on
    a dead aiokafka task) still has a running consumer, so readiness stays green; failing liveness has
    Kubernetes restart the process, and what it held is delivered again."""

    async def check() -> None:
        if stalled := stalled_consumers(broker):
            raise TimeoutError(f"consumers stalled on one batch: {', '.join(stalled)}")
        if dead := dead_consumers(broker):
            raise RuntimeError(f"consumers without their Kafka client: {'; '.join(dead)}")

    return check


def consumers_check(broker: KafkaBroker) -> Callable[[], Awaitable[None]]:
    """A readiness check (shared.observability.health_router): every subscriber of this process's
    broker has a running Kafka consumer. A ping answers for the connection; this one for the consumers
    (a process whose role has none, intake's HTTP process, is ready without)."""

    async def check() -> None:
        stopped = [s for s in broker.subscribers if not s.running or getattr(s, "consumer", None) is None]
        if stopped:
            names = ", ".join(sorted({t for s in stopped for t in getattr(s, "topic_names", ())}))
            raise ConnectionError(f"consumers not running: {names}")

    return check

"""Prometheus metrics of the eligibility service, and the consumer-lag sampler."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

log = structlog.get_logger(__name__)

DECISIONS = Counter("pbi_eligibility_decisions_total", "Decisions published", ["outcome", "path"])
REASONS = Counter("pbi_eligibility_decision_reasons_total", "Reasons on decisions", ["outcome", "reason"])
TIMERS_FIRED = Counter("pbi_eligibility_timers_fired_total", "Durable timers fired", ["kind"])
TIMERS_PENDING = Gauge("pbi_eligibility_timers_pending", "Durable timers not yet fired")
LATENCY = Histogram(
    "pbi_eligibility_decision_latency_seconds",
    "From request receipt to decision",
    ["path"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
CONSUMER_LAG = Gauge(
    "pbi_eligibility_consumer_lag_records", "Records behind the partition's end, per consumer group", ["group"]
)


def count_decision(path: str, decision: Any, latency_s: float) -> None:
    """Counted after the decision committed, so a rolled-back batch counts nothing."""
    DECISIONS.labels(decision.outcome.value, path).inc()
    for reason in decision.reasons:
        REASONS.labels(decision.outcome.value, reason.value).inc()
    LATENCY.labels(path).observe(max(0.0, latency_s))


async def sample_lag(subscribers: list[Any]) -> None:
    """Lag = highwater mark seen by the consumer minus its position, summed over its assignment."""
    for sub in subscribers:
        consumer = getattr(sub, "consumer", None)
        if consumer is None:
            continue
        lag = 0
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lag += max(0, highwater - await consumer.position(tp))
        CONSUMER_LAG.labels(sub.group_id).set(lag)


async def lag_loop(subscribers: list[Any], interval_s: float = 5.0) -> None:
    while True:
        try:
            await sample_lag(subscribers)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a metric must never stop the service
            log.warning("lag_sample_failed", error=type(exc).__name__)
        await asyncio.sleep(interval_s)

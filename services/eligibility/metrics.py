"""Prometheus metrics of the eligibility service, and the consumer-lag sampler."""

from __future__ import annotations

import asyncio
from collections import Counter as Counter_
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


def count_decisions(decided: list[tuple[str, Any, float]]) -> None:
    """(path, decision, latency s) of committed decisions: counted only after the commit, so a
    rolled-back batch counts nothing. Aggregated first: a batch holds hundreds."""
    by_path: Counter_[tuple[str, str]] = Counter_()
    by_reason: Counter_[tuple[str, str]] = Counter_()
    latencies: dict[str, Any] = {}  # path -> its histogram child, looked up once per batch
    for path, decision, latency_s in decided:
        outcome = str(decision.outcome)  # a StrEnum's str() is its value (str's own, not the enum property)
        by_path[outcome, path] += 1
        for reason in decision.reasons:
            by_reason[outcome, str(reason)] += 1
        latency = latencies.get(path) or latencies.setdefault(path, LATENCY.labels(path))
        latency.observe(max(0.0, latency_s))
    for (outcome, path), n in by_path.items():
        DECISIONS.labels(outcome, path).inc(n)
    for (outcome, reason), n in by_reason.items():
        REASONS.labels(outcome, reason).inc(n)


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

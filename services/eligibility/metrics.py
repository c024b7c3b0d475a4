"""Prometheus metrics of the eligibility service."""

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter("pbi_eligibility_decisions_total", "Decisions published", ["outcome", "path"])
REASONS = Counter("pbi_eligibility_decision_reasons_total", "Reasons on decisions", ["reason"])
TIMERS_FIRED = Counter("pbi_eligibility_timers_fired_total", "Durable timers fired", ["kind"])
TIMERS_PENDING = Gauge("pbi_eligibility_timers_pending", "Durable timers not yet fired")
LATENCY = Histogram(
    "pbi_eligibility_decision_latency_seconds",
    "From request receipt to decision",
    ["path"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)

"""Prometheus metrics of the registry."""

from prometheus_client import Counter, Gauge, Histogram

# Each event once, by the process whose committed batch applied it first (handlers.first_applications: not
# again on a retry, a redelivery or in the other role; nothing for an event about nobody on record, or one the
# registry ignores), except requests and message states, counted at each delivery (they keep no record).
# The sum over the registry's processes is what bench/run.py waits for.
APPLIED = Counter(
    "pbi_registry_events_applied_total",
    "Events applied, each once (requests and message states: per delivery)",
    ["type"],
)
DUPLICATES = Counter("pbi_registry_duplicate_events_total", "Redelivered events skipped")
ANOMALIES = Counter("pbi_registry_anomalies_total", "Events that did not fit", ["kind"])
BATCH = Histogram("pbi_registry_batch_size", "Events per applied batch", buckets=(1, 10, 50, 100, 250, 500, 1000, 2000))
BATCH_SECONDS = Histogram("pbi_registry_batch_seconds", "Time to apply and commit a batch")
LAG = Gauge("pbi_registry_lag_seconds", "Age of the newest event of the last committed batch (event time to commit)")
WINDOW_EXPIRED = Counter("pbi_registry_window_expired_total", "Participants expired by the window-close sweep")
WORKLIST_OPENED = Counter("pbi_registry_worklist_opened_total", "Worklist items opened", ["kind"])
# `by`: "person" (POST /v1/worklist/{id}/done) or "system:<event type>" (the fact or decision that did the work).
WORKLIST_CLOSED = Counter("pbi_registry_worklist_closed_total", "Worklist items closed", ["kind", "by"])

"""Intake's own metric: what Kafka acknowledged, so a wave's publish rate is visible without the bench."""

from prometheus_client import Counter

PUBLISHED = Counter(
    "pbi_intake_events_published_total", "Events acknowledged by Kafka (committed, for a batch)", ["topic"]
)

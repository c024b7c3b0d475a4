"""Wave progress over time, sampled from Kafka's own offsets (records in the participant-events topic,
records the registry's consumer group has committed, lag per consumer group): Kafka keeps no history
of these, so the registry keeps the last hours in memory (lost at a restart; Prometheus keeps the long view)."""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from shared.topics import PARTICIPANT_EVENTS

APPLIED_BY = f"registry-{PARTICIPANT_EVENTS.name}"  # the group whose commits mean "applied to the registry"


@dataclass(frozen=True)
class Sample:
    at: dt.datetime
    events_in: int
    applied: int
    lag: dict[str, int]


@dataclass
class WaveSampler:
    keep: dt.timedelta = dt.timedelta(hours=3)
    every: dt.timedelta = dt.timedelta(seconds=5)
    samples: deque[Sample] = field(default_factory=deque)

    def record(self, at: dt.datetime, kafka: dict[str, Any]) -> None:
        """One sample from KafkaHealth.read() (at most one per `every`; none while Kafka is away)."""
        offsets = kafka.get("offsets") or {}
        if not offsets or (self.samples and at - self.samples[-1].at < self.every):
            return
        events_in = int(offsets.get("topics", {}).get(PARTICIPANT_EVENTS.name, 0))
        applied = int(offsets.get("groups", {}).get(APPLIED_BY, 0))
        self.samples.append(Sample(at, events_in, applied, dict(kafka.get("consumer_lag") or {})))
        while self.samples and at - self.samples[0].at > self.keep:
            self.samples.popleft()

    def progress(self, since: dt.datetime) -> dict[str, list[tuple[dt.datetime, float]]]:
        """Events in and applied since the first sample in view (so the chart starts at zero)."""
        view = [s for s in self.samples if s.at >= since]
        if not view:
            return {"in": [], "applied": []}
        first = view[0]
        return {
            "in": [(s.at, float(s.events_in - first.events_in)) for s in view],
            "applied": [(s.at, float(s.applied - first.applied)) for s in view],
        }

    def lag(self, since: dt.datetime) -> dict[str, list[tuple[dt.datetime, float]]]:
        groups = sorted({g for s in self.samples for g in s.lag})
        view = [s for s in self.samples if s.at >= since]
        return {g: [(s.at, float(s.lag.get(g, 0))) for s in view] for g in groups}

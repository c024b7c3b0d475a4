"""A clock the test sets: services take `clock=` (the domain never reads the time itself)."""

from __future__ import annotations

import datetime as dt


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def published_at(timestamp_ms: int, read_perf: float, read_epoch: float) -> float:
    """A Kafka record's CreateTime (wall clock, ms) on time.perf_counter's scale, mapped at the moment it was read
    (`read_perf`, `read_epoch`: perf_counter and time.time then), and never later than that moment: the VM's wall
    clock once moved about 30 s against perf_counter during a bench run, and every record looked that late."""
    return min(timestamp_ms / 1000 + read_perf - read_epoch, read_perf)

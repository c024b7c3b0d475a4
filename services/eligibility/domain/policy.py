"""The reactivation policy is data: a versioned file, loaded at the edge and passed in."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    version: str
    desil_cutoff: int = 5
    window_months: int = 6
    emergency_sla_hours: int = 24
    emergency_warning_hours: int = 12
    reminder_days_before_close: tuple[int, ...] = (30, 7)
    # A request and the deactivation it answers travel on different topics: for this long after
    # receipt, "no deactivation seen" may only mean "still queued", so the request waits.
    unknown_person_grace_minutes: int = 10
    # An appeal not upheld by new facts waits this long on the worklist for a person (APPEAL_REVIEW).
    appeal_sla_days: int = 14

    @property
    def emergency_sla(self) -> dt.timedelta:
        return dt.timedelta(hours=self.emergency_sla_hours)

    @property
    def unknown_person_grace(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.unknown_person_grace_minutes)

    @property
    def appeal_sla(self) -> dt.timedelta:
        return dt.timedelta(days=self.appeal_sla_days)

    @property
    def emergency_warning(self) -> dt.timedelta:
        return dt.timedelta(hours=self.emergency_warning_hours)


def policy_from_json(text: str) -> Policy:
    data = json.loads(text)
    data["reminder_days_before_close"] = tuple(data.get("reminder_days_before_close", (30, 7)))
    return Policy(**data)

"""The reactivation policy is data: a versioned file (`services/eligibility/policy/v1.json`, what operators
edit, intake reads its SLA lengths too), loaded at the edge (`services.eligibility.app.load_policy`) and
passed in. `Policy` has no defaults: the file is the one place its numbers are written, and a file lacking
one, or naming one `Policy` does not know, is an error that names the keys, never a fallback."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Policy:
    version: str
    desil_cutoff: int
    window_months: int
    emergency_sla_hours: int
    emergency_warning_hours: int
    reminder_days_before_close: tuple[int, ...]
    # A request and the deactivation it answers travel on different topics: for this long after
    # receipt, "no deactivation seen" may only mean "still queued", so the request waits.
    unknown_person_grace_minutes: int
    # An appeal not upheld by new facts waits this long on the worklist for a person (APPEAL_REVIEW).
    appeal_sla_days: int

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


KEYS = frozenset(f.name for f in dataclasses.fields(Policy))


class PolicyError(ValueError):
    """The policy file is not a policy: a key missing or unknown, or not a JSON object."""


def policy_from_json(text: str) -> Policy:
    data: Any = json.loads(text)
    if not isinstance(data, dict):
        raise PolicyError(f"the policy file holds a JSON {type(data).__name__}, not an object")
    missing, unknown = sorted(KEYS - data.keys()), sorted(data.keys() - KEYS)
    if missing or unknown:
        raise PolicyError(f"the policy file lacks {missing or 'nothing'} and has unknown keys {unknown or 'none'}")
    data["reminder_days_before_close"] = tuple(data["reminder_days_before_close"])
    return Policy(**data)

"""The lengths intake states but eligibility's policy decides: the emergency SLA and its warning, the appeal
SLA. They live in one file, eligibility's policy (`services/eligibility/policy/v1.json`, versioned with the
rules), whose SLA_WARNING and SLA_BREACH timers and appeal deadlines they must match: intake reads them from
there, once, and keeps no number of its own (a missing key fails at startup, never falls back)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

POLICY_FILE = Path(__file__).parents[1] / "eligibility" / "policy" / "v1.json"


@functools.cache
def _policy() -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(POLICY_FILE.read_text())
    return policy


def emergency_sla() -> dt.timedelta:
    """From receipt to an emergency's `sla_deadline`."""
    return dt.timedelta(hours=int(_policy()["emergency_sla_hours"]))


def emergency_warning() -> dt.timedelta:
    """From receipt to the SLA's WARNING (what GET shows by the clock before the timer event comes)."""
    return dt.timedelta(hours=int(_policy()["emergency_warning_hours"]))


def appeal_sla() -> dt.timedelta:
    """From an appeal's receipt to its `due_at`."""
    return dt.timedelta(days=int(_policy()["appeal_sla_days"]))

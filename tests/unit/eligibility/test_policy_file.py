"""The policy's numbers are written in one place, the file operators edit (services/eligibility/policy/v1.json,
which intake reads too): `Policy` has no defaults, a file lacking a key or naming an unknown one is an error
naming it, and a changed file changes what eligibility decides and schedules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from services.eligibility.app import POLICY_FILE, load_policy
from services.eligibility.domain.policy import KEYS, Policy, PolicyError, policy_from_json
from services.eligibility.domain.rules import Decision, Request
from services.eligibility.domain.schedule import request_timers
from services.intake import policy as intake_policy
from shared.enums import DecisionReason, Outcome, ReactivationPath

SHIPPED = json.loads(POLICY_FILE.read_text())
AT = dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC)


def test_policy_has_no_defaults_so_the_file_is_required() -> None:
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Policy))
    with pytest.raises(TypeError):
        Policy("2026.2")  # type: ignore[call-arg]
    assert set(SHIPPED) == KEYS  # the shipped file names every number, and nothing else


def test_intake_and_eligibility_read_the_same_file() -> None:
    assert intake_policy.POLICY_FILE.resolve() == POLICY_FILE.resolve()


@pytest.mark.parametrize("key", sorted(KEYS))
def test_a_key_missing_from_the_file_is_an_error_naming_it(key: str) -> None:
    lacking = {k: v for k, v in SHIPPED.items() if k != key}
    with pytest.raises(PolicyError, match=key):
        policy_from_json(json.dumps(lacking))


def test_an_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(PolicyError, match="emergency_sla_minutes"):
        policy_from_json(json.dumps(SHIPPED | {"emergency_sla_minutes": 90}))
    with pytest.raises(PolicyError, match="not an object"):
        policy_from_json("[]")


def test_a_changed_file_changes_the_policy(tmp_path: Path) -> None:
    changed = SHIPPED | {
        "version": "2027.1",
        "emergency_sla_hours": 48,
        "emergency_warning_hours": 36,
        "reminder_days_before_close": [14],
        "appeal_sla_days": 7,
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(changed))
    policy = load_policy(path)
    assert policy.version == "2027.1"
    assert (policy.emergency_sla, policy.emergency_warning) == (dt.timedelta(hours=48), dt.timedelta(hours=36))
    assert (policy.reminder_days_before_close, policy.appeal_sla) == ((14,), dt.timedelta(days=7))
    # What eligibility schedules follows the file: an emergency held on a NIK conflict warns and breaches late.
    request = Request("r1", "3674015708900001", ReactivationPath.EMERGENCY, AT)
    held = Decision(Outcome.PENDING, (DecisionReason.NIK_CONFLICT,), (), policy.version, None)
    assert {t["kind"]: t["due_at"] for t in request_timers(request, held, policy)} == {
        "SLA_WARNING": AT + dt.timedelta(hours=36),
        "SLA_BREACH": AT + dt.timedelta(hours=48),
    }

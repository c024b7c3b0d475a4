"""Intake states the emergency and appeal SLAs but keeps no number of its own: they are eligibility's policy,
the file whose timers decide when WARNING and BREACHED fire, so the deadline intake answers and the breach
eligibility fires are the same instant."""

from __future__ import annotations

import datetime as dt

from services.eligibility.domain.policy import policy_from_json
from services.intake import api
from services.intake.policy import POLICY_FILE, appeal_sla, emergency_sla, emergency_warning


def test_intake_reads_the_sla_lengths_from_eligibilitys_policy_file() -> None:
    policy = policy_from_json(POLICY_FILE.read_text())
    assert (emergency_sla(), emergency_warning(), appeal_sla()) == (
        policy.emergency_sla,
        policy.emergency_warning,
        policy.appeal_sla,
    )
    assert (api.SLA, api.SLA_WARNING) == (policy.emergency_sla, policy.emergency_warning)
    assert (policy.emergency_sla, policy.emergency_warning) == (dt.timedelta(hours=24), dt.timedelta(hours=12))

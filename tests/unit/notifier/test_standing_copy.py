"""fold's copies of a standing (domain/standing.py `_with`) are what dataclasses.replace gives, and leave the
standing they copy as it was."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

from services.notifier.domain.standing import Standing, _with
from shared.enums import ParticipantStatus

CHANGES: dict[str, list[Any]] = {
    "status": [None, ParticipantStatus.INACTIVE, ParticipantStatus.ACTIVE],
    "deactivated_on": [None, dt.date(2026, 11, 1)],
    "reasons": [(), ("BIOMETRIC_MISSING", "DESIL_UNKNOWN")],
    "request_open": [False, True],
    "last_status_at": [None, dt.datetime(2026, 11, 30, 5, tzinfo=dt.UTC)],
    "request_ids": [(), ("ab" * 16,)],
    "desil": [None, 3],
}


def test_a_copy_with_changes_is_what_replace_gives() -> None:
    rng = random.Random(9)
    for _ in range(500):
        before = {k: rng.choice(v) for k, v in CHANGES.items() if rng.random() < 0.5}
        original = Standing("3674015708900001", **before)  # type: ignore[arg-type]
        kept = dataclasses.replace(original)
        changes = {k: rng.choice(v) for k, v in CHANGES.items() if rng.random() < 0.5}
        copied = _with(original, **changes)
        assert copied == dataclasses.replace(original, **changes) and copied is not original
        assert original == kept

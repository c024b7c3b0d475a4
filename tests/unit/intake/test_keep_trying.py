"""services.intake.app.keep_trying: one back-off for what intake retries in the background (starting its Kafka
consumer, taking its transactional ids over): after the first delay, 1, 2, 4... up to 30 s, until it succeeds."""

from __future__ import annotations

import asyncio

import pytest

from services.intake import app


@pytest.mark.parametrize(
    ("first_delay_s", "waits"),
    [(1.0, [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]), (0.0, [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0])],
)
async def test_it_backs_off_until_an_attempt_succeeds(
    monkeypatch: pytest.MonkeyPatch, first_delay_s: float, waits: list[float]
) -> None:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    attempts = iter([False] * (len(waits) - 1) + [True])

    async def attempt() -> bool:
        return next(attempts)

    await app.keep_trying(attempt, first_delay_s=first_delay_s)
    assert slept == waits
    assert next(attempts, "done") == "done"  # stopped at the first success

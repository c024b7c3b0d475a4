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


async def test_it_stops_when_cancelled_even_if_the_attempt_swallowed_the_cancellation() -> None:
    """aiokafka's bootstrap, cancelled, can raise a connection error instead: the attempt logs it and says it failed.
    The loop stops all the same, or intake's shutdown (which awaits it) would wait forever."""
    entered = asyncio.Event()
    tries: list[None] = []

    async def attempt() -> bool:
        tries.append(None)
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # the first swallowed, as a library's error of its own
            if len(tries) == 1:
                return False
            raise
        return True

    trying = asyncio.create_task(app.keep_trying(attempt, first_delay_s=0.0))
    await entered.wait()
    trying.cancel()
    done, _ = await asyncio.wait({trying}, timeout=10)
    if trying not in done:  # a failed run: its second try is cancelled for good
        trying.cancel()
    assert trying in done, "keep_trying went on after its task was cancelled"
    assert trying.cancelled() and len(tries) == 1  # not tried again after the cancellation

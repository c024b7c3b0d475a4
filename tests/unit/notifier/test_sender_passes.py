"""The sender claims until a claim comes back short, then waits for a wake-up (services/notifier/sender.py
`Sender.drain`): a claim after a short one found nothing, and cost a transaction per emergency's message."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.notifier.sender import Sender
from testkit.polling import eventually

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


class ScriptedSender(Sender):
    """A sender whose claims return the sizes given, in order (then 0), with no database or provider."""

    def __init__(self, sizes: list[int], claim_per_s: float = 10.0) -> None:
        unused: Any = None
        super().__init__(unused, unused, unused, lambda: None, "t.", lambda: NOW, claim_per_s, 3)
        self.sizes, self.claims = list(sizes), 0
        self.on_claim: list[Any] = []

    async def send_due(self, limit: int | None = None) -> int:
        self.claims += 1
        for hook in self.on_claim:
            hook()
        return self.sizes.pop(0) if self.sizes else 0

    async def reconcile(self) -> int:
        return 0


async def test_full_claims_are_followed_by_another_and_a_short_one_ends_the_pass() -> None:
    sender = ScriptedSender([10, 10, 3, 10])
    assert sender.claim_size == 10
    assert await sender.drain() == 23
    assert sender.claims == 3  # the fourth batch waits for a wake-up or the next pass


async def test_an_empty_queue_costs_one_claim() -> None:
    sender = ScriptedSender([])
    assert await sender.drain() == 0
    assert sender.claims == 1


async def test_a_message_queued_during_a_claim_is_claimed_at_once_not_at_the_next_pass() -> None:
    sender = ScriptedSender([1, 1])
    sender.pass_every_s = 3600  # only a wake-up can start another pass within the test
    sender.on_claim.append(lambda: sender.wake() if sender.claims == 1 else None)  # queued while claiming
    sender.start()
    try:

        async def claimed_again() -> bool:
            return sender.claims >= 2

        await eventually(claimed_again, timeout=30)
    finally:
        await sender.stop()

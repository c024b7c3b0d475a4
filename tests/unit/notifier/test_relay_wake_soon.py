"""Delivery states' announcements (claims, receipts) wake the outbox relay once per ANNOUNCE_WITHIN_S, however
many asked meanwhile (services/notifier/sender.py `Sender.wake_relay_soon`): a relay pass per webhook cost
notifier-urgent about 2 CPU ms each (issue 20)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from services.notifier import sender as sender_module
from services.notifier.sender import Sender
from testkit.polling import eventually

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


def a_sender(wakes: list[float]) -> Sender:
    unused: Any = None  # no database, no provider: only the relay's wake-ups are looked at
    loop = asyncio.get_running_loop()
    return Sender(unused, unused, unused, lambda: wakes.append(loop.time()), "t.", lambda: NOW, 10.0, 3)


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender_module, "ANNOUNCE_WITHIN_S", 0.05)


async def wakes_reach(wakes: list[float], n: int) -> None:
    async def reached() -> bool:
        return len(wakes) >= n

    await eventually(reached, timeout=10, interval=0.01)


async def sentinel(sender: Sender, wakes: list[float]) -> None:
    """Ask once more and wait for that ask's own wake: every wake asked for before it has come by then."""
    asked = asyncio.get_running_loop().time()
    sender.wake_relay_soon()

    async def its_wake_came() -> bool:
        return bool(wakes) and wakes[-1] - asked >= 0.05

    await eventually(its_wake_came, timeout=10, interval=0.01)


async def test_many_asking_within_the_wait_wake_the_relay_once_after_it() -> None:
    wakes: list[float] = []
    sender = a_sender(wakes)
    asked = asyncio.get_running_loop().time()
    for _ in range(5):
        sender.wake_relay_soon()
    assert wakes == []  # not at once
    await wakes_reach(wakes, 1)
    assert wakes[0] - asked >= 0.05
    await sentinel(sender, wakes)
    assert len(wakes) == 2  # the five's one and the sentinel's


async def test_asking_again_after_the_wake_wakes_it_again() -> None:
    wakes: list[float] = []
    sender = a_sender(wakes)
    sender.wake_relay_soon()
    await wakes_reach(wakes, 1)
    sender.wake_relay_soon()
    sender.wake_relay_soon()
    await wakes_reach(wakes, 2)
    await sentinel(sender, wakes)
    assert len(wakes) == 3


async def test_stopping_the_sender_drops_a_pending_wake(monkeypatch: pytest.MonkeyPatch) -> None:
    wakes: list[float] = []
    sender = a_sender(wakes)
    sender.wake_relay_soon()  # due in 0.05 s
    await sender.stop()
    monkeypatch.setattr(sender_module, "ANNOUNCE_WITHIN_S", 0.3)
    asked = asyncio.get_running_loop().time()
    sender.wake_relay_soon()  # a later ask is not lost behind the dropped one
    await wakes_reach(wakes, 1)
    assert wakes[0] - asked >= 0.3  # the first wake is the later ask's: the dropped one never came

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

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


def a_sender(wakes: list[float]) -> Sender:
    unused: Any = None  # no database, no provider: only the relay's wake-ups are looked at
    loop = asyncio.get_running_loop()
    return Sender(unused, unused, unused, lambda: wakes.append(loop.time()), "t.", lambda: NOW, 10.0, 3)


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender_module, "ANNOUNCE_WITHIN_S", 0.05)


async def test_many_asking_within_the_wait_wake_the_relay_once_after_it() -> None:
    wakes: list[float] = []
    sender = a_sender(wakes)
    asked = asyncio.get_running_loop().time()
    for _ in range(5):
        sender.wake_relay_soon()
    assert wakes == []  # not at once
    await asyncio.sleep(0.2)
    assert len(wakes) == 1 and wakes[0] - asked >= 0.05


async def test_asking_again_after_the_wake_wakes_it_again() -> None:
    wakes: list[float] = []
    sender = a_sender(wakes)
    sender.wake_relay_soon()
    await asyncio.sleep(0.2)
    sender.wake_relay_soon()
    sender.wake_relay_soon()
    await asyncio.sleep(0.2)
    assert len(wakes) == 2


async def test_stopping_the_sender_drops_a_pending_wake() -> None:
    wakes: list[float] = []
    sender = a_sender(wakes)
    sender.wake_relay_soon()
    await sender.stop()
    await asyncio.sleep(0.2)
    assert wakes == []
    sender.wake_relay_soon()  # and a later ask is not lost behind the dropped one
    await asyncio.sleep(0.2)
    assert len(wakes) == 1

"""Waiting for a condition instead of for time: tests assert effects once they show, never after a sleep.

The default deadline is generous (60 s): a test beside `make up`, a demo and other test workers on two cores
(load 8-12) saw a consumer group's join and first poll take tens of seconds. A passing wait returns as soon
as its condition holds, so only a failing test pays for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 60.0, interval: float = 0.1) -> T:  # noqa: ASYNC109
    """Poll an async `check` until it returns something truthy; fail with its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: T | None = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


async def eventually_none(
    check: Callable[[], Awaitable[list[T]]],
    timeout: float = 60.0,  # noqa: ASYNC109
    interval: float = 0.1,
) -> None:
    """Poll an async `check` until it returns an empty list; fail with what it still found (where the
    leftovers are, not just `False`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await check()
        if not found:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"still there after {timeout}s: {found!r}")
        await asyncio.sleep(interval)

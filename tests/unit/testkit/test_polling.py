"""Waiting for conditions: a failing wait says what was still there, not just False."""

from __future__ import annotations

import pytest

from testkit.polling import eventually_none


async def test_eventually_none_returns_once_nothing_is_left() -> None:
    left = [["notifier.messages: +62..."], []]

    async def check() -> list[str]:
        return left.pop(0)

    await eventually_none(check, timeout=5, interval=0)
    assert left == []


async def test_eventually_none_fails_with_what_is_still_there() -> None:
    async def check() -> list[str]:
        return ["eligibility.facts: 3674..."]

    with pytest.raises(AssertionError, match=r"still there after 0.05s: \['eligibility.facts: 3674...'\]"):
        await eventually_none(check, timeout=0.05, interval=0.01)

"""The dashboard's live stream without a server: one snapshot per tick for any number of viewers,
a frame only when something changed, and the stream ends once its key may no longer read."""

from __future__ import annotations

import asyncio
from typing import Any

from services.registry.dashboard.routes import SnapshotHub, live


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_viewers_within_one_tick_share_one_computation() -> None:
    computed = 0

    async def compute() -> dict[str, Any]:
        nonlocal computed
        computed += 1
        await asyncio.sleep(0)
        return {"headline": {"inactive": computed}, "generated_at": computed}

    clock = Clock()
    hub = SnapshotHub(compute, interval_s=1.0, clock=clock)
    frames = await asyncio.gather(*(hub.frame() for _ in range(50)))
    assert computed == 1 and len({id(f) for f in frames}) == 1
    clock.now = 0.5
    await hub.frame()
    assert computed == 1
    clock.now = 1.0
    await asyncio.gather(*(hub.frame() for _ in range(50)))
    assert computed == 2


async def test_a_frame_only_when_the_snapshot_changed_and_the_end_when_the_key_is_gone() -> None:
    values = iter([1, 1, 2, 2, 2])

    async def compute() -> dict[str, Any]:
        return {"headline": {"inactive": next(values)}, "generated_at": "now"}

    allowed = iter([True, True, True, True, False])

    async def still_allowed() -> bool:
        return next(allowed)

    async def connected() -> bool:
        return False

    hub = SnapshotHub(compute, interval_s=0.0)
    sent = [chunk async for chunk in live(hub, still_allowed, connected, interval_s=0.0)]
    assert [c.startswith("data:") for c in sent] == [True, False, True, False]

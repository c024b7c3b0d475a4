"""shared.lane: consumers in a thread of their own, started and stopped from the main loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from shared.lane import Lane, call_in_loop


async def test_the_body_runs_in_its_own_thread_until_stopped_and_cleans_up() -> None:
    seen: dict[str, object] = {}

    async def body(stop: asyncio.Event, ready: Callable[[], None]) -> None:
        seen["thread"] = threading.current_thread().name
        ready()
        await stop.wait()
        seen["cleaned_up"] = True

    lane = Lane("test-lane", body)
    await lane.start()
    assert seen == {"thread": "test-lane"}
    await lane.stop()
    assert seen["cleaned_up"] is True


async def test_a_body_that_fails_before_ready_fails_start() -> None:
    async def body(stop: asyncio.Event, ready: Callable[[], None]) -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError, match="broker unreachable"):
        await Lane("failing", body).start()


async def test_call_in_loop_runs_the_callback_in_the_main_loop() -> None:
    main_thread, ran_in = threading.current_thread(), asyncio.Event()
    threads: list[threading.Thread] = []

    def wake() -> None:
        threads.append(threading.current_thread())
        ran_in.set()

    async def body(stop: asyncio.Event, ready: Callable[[], None]) -> None:
        call_in_loop(main_loop, wake)()
        ready()
        await stop.wait()

    main_loop = asyncio.get_running_loop()
    lane = Lane("waker", body)
    await lane.start()
    await asyncio.wait_for(ran_in.wait(), 5)
    await lane.stop()
    assert threads == [main_thread]

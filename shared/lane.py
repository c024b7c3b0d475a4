"""A lane: consumers that run in a thread of their own, with their own event loop (and, built by
the caller, their own broker and database pool).

Bulk work (a wave's batches of thousands) keeps a service's main event loop busy between awaits;
urgent records handled in the same loop wait behind it at every await, seconds under load. In a
thread of its own a lane gets the interpreter every GIL switch interval (shared.runtime sets it
to 0.5 ms) whatever the bulk work does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

# Given an event that is set when the lane must stop: builds its consumers, runs until then, cleans up.
LaneBody = Callable[[asyncio.Event, Callable[[], None]], Awaitable[None]]


class Lane:
    def __init__(self, name: str, body: LaneBody) -> None:
        self.name, self.body = name, body
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None

    async def start(self) -> None:
        """Returns once the body said it is running (`ready()`); raises what made it fail instead."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._started.wait)
        if self.error is not None:
            raise self.error

    async def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start() or logged
            self.error = exc
            log.error("lane_failed", lane=self.name, error=type(exc).__name__)
        finally:
            self._started.set()
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        await self.body(self._stop, self._started.set)


def call_in_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Callable[[], None]:
    """`callback` made safe to call from a lane: it runs in `loop` (e.g. waking the main loop's relay)."""

    def call() -> None:
        loop.call_soon_threadsafe(callback)

    return call

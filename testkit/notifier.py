"""The notifier in integration tests: the provider simulator on a real socket of its own, the notifier's
settings pointing at it, and the notifier's message rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from services.notifier import simulator
from services.notifier.settings import NotifierSettings
from services.notifier.store import M
from shared.settings import Settings
from testkit.system import free_port


@dataclass
class Sim:
    """The provider simulator (WhatsApp and Twilio) on `port`, calling back the notifier on `notifier_port`."""

    port: int
    notifier_port: int

    async def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            return await client.request(method, path, **kw)

    async def faults(self, **faults: Any) -> None:
        (await self.call("POST", "/_sim/faults", json=faults)).raise_for_status()

    async def messages(self) -> list[dict[str, Any]]:
        return list((await self.call("GET", "/_sim/messages")).json())


@contextmanager
def simulator_running() -> Iterator[Sim]:
    """The simulator on its own thread and socket (stopped afterwards), calling back the notifier's port."""
    port, notifier_port = free_port(), free_port()
    app = simulator.create_app(NotifierSettings(public_base_url=f"http://127.0.0.1:{notifier_port}"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the provider simulator did not start")
        time.sleep(0.02)  # polling the server's own flag: uvicorn offers no event to wait on
    try:
        yield Sim(port, notifier_port)
    finally:
        server.should_exit = True
        thread.join(5)


def notifier_settings(settings: Settings, sim: Sim, **overrides: Any) -> NotifierSettings:
    """A test's settings, with the providers at the simulator and the notifier on the port it calls back."""
    base = f"http://127.0.0.1:{sim.port}"
    values: dict[str, Any] = {
        **settings.model_dump(),
        "whatsapp_api_base": base,
        "twilio_api_base": base,
        "public_base_url": f"http://127.0.0.1:{sim.notifier_port}",
        "http_port": sim.notifier_port,
    }
    return NotifierSettings(**(values | overrides))


async def message_rows(app: FastAPI) -> list[dict[str, Any]]:
    """Every message row of a running notifier app."""
    async with app.state.sessions() as s:
        return [dict(r) for r in (await s.execute(select(M))).mappings()]


async def messages_in_state(app: FastAPI, *states: str) -> list[dict[str, Any]]:
    return [r for r in await message_rows(app) if r["state"] in states]

"""`pbi run` (pbi_cli/serve.py): every service process runs on asyncio's own event loop, not uvloop, whose
RuntimeError on a write to a closed connection killed aiokafka's background tasks (make chaos, session 24)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvloop

from pbi_cli import serve
from shared.settings import Role


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options of each uvicorn.run `pbi run` asks for (none is started)."""
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **options: started.append(options))
    return started


@pytest.mark.parametrize("service", serve.SERVICES)
def test_every_service_process_runs_on_asyncio_s_own_loop(service: str, uvicorn_runs: list[dict[str, Any]]) -> None:
    serve._serve(service, Role.BULK)
    assert [options["loop"] for options in uvicorn_runs] == ["asyncio"]


def test_the_provider_simulator_runs_on_asyncio_s_own_loop(uvicorn_runs: list[dict[str, Any]]) -> None:
    serve.simulator(port=8090, host="127.0.0.1")
    assert [options["loop"] for options in uvicorn_runs] == ["asyncio"]


async def _write_after_the_peer_closed() -> BaseException | None:
    """What writing to a connection the other side has closed does, on the running loop."""
    closed = asyncio.Event()

    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()
        closed.set()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await closed.wait()
    await reader.read()  # the end of the stream: the transport closes
    try:
        for _ in range(3):
            writer.write(b"x" * 100)
            await asyncio.sleep(0)
    except BaseException as exc:  # noqa: BLE001 - what is raised is the finding
        return exc
    finally:
        server.close()
        await server.wait_closed()
    return None


def test_why_not_uvloop_a_write_to_a_closed_connection_raises_there_and_not_on_asyncio_s_loop() -> None:
    """aiokafka catches OSError around its writes (aio-libs/aiokafka#1038): uvloop raises RuntimeError."""
    assert isinstance(uvloop.run(_write_after_the_peer_closed()), RuntimeError)
    assert asyncio.run(_write_after_the_peer_closed()) is None

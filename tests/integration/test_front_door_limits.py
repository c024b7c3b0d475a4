"""Issue 16, item 1, probed as an attacker would: bodies nobody may send are refused before they are
read. Against a real intake process (uvicorn, as deployed) with its memory measured: a chunked body
that never ends, with and without a key, and a Content-Length of a gigabyte; in-process for the
order of answers (401, then 413, then 422) and for the registry's and the notifier's limits."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from services.intake.app import create_app as create_intake
from services.notifier.app import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from services.registry.app import create_app as create_registry
from shared.auth import ApiKeyStore
from shared.db import make_engine
from shared.http_guard import KiB, MiB
from shared.settings import IntakeSettings, RegistrySettings, Settings
from testkit.apps import running
from testkit.system import RunningSystem, free_port

CHUNK = 256 * KiB
SENT_AT_MOST = 256 * MiB  # what a client without limits would keep sending
GROWTH_ALLOWED = 48 * MiB  # the 16 MiB a keyed client may send, held while parsed, and slack


@dataclass
class Intake:
    host: str
    port: int
    pid: int
    key: str


@pytest.fixture
async def intake_process(settings: Settings, tmp_path: Path) -> AsyncIterator[Intake]:
    engine = make_engine(settings)
    store = ApiKeyStore(engine, settings.api_key_pepper.get_secret_value())
    await store.migrate()
    key = await store.issue("feed", ["events:write", "reactivations:write"])
    await engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "PBI_ENV": "local",
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOPIC_PREFIX": settings.topic_prefix,
        "KAFKA_PARTITIONS_OVERRIDE": "2",
        "AUTH_FAILURES_PER_MINUTE": "1000",
    }
    system = RunningSystem(env, {"intake": port}, tmp_path)
    await asyncio.to_thread(system.start, "intake")
    try:
        yield Intake("127.0.0.1", port, system.processes["intake"].pid, key)
    finally:
        await asyncio.to_thread(system.stop)


@dataclass
class Probe:
    status: int | None
    sent: int
    growth: int  # the server's peak resident memory over its resident memory before the request


async def stream_body(intake: Intake, path: str, key: str | None, content_length: int | None = None) -> Probe:
    """Sends a body of SENT_AT_MOST bytes (chunked, or under a Content-Length) for as long as the
    server keeps reading, sampling the server's memory meanwhile; then reads the answer."""
    server = psutil.Process(intake.pid)
    before = server.memory_info().rss
    peak = before
    reader, writer = await asyncio.open_connection(intake.host, intake.port)
    head = [f"POST {path} HTTP/1.1", f"Host: {intake.host}", "Content-Type: application/json"]
    head += [f"Authorization: Bearer {key}"] if key else []
    head += [f"Content-Length: {content_length}"] if content_length is not None else ["Transfer-Encoding: chunked"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    block = b"[" + b"1," * (CHUNK // 2 - 1) + b"1"
    frame = block if content_length is not None else b"%x\r\n%s\r\n" % (len(block), block)
    answer = asyncio.create_task(reader.readline())
    sent = 0
    try:
        while sent < SENT_AT_MOST and not answer.done():
            writer.write(frame)
            await asyncio.wait_for(writer.drain(), timeout=30)
            sent += len(block)
            if sent % (4 * MiB) < CHUNK:
                peak = max(peak, server.memory_info().rss)
    except (ConnectionError, TimeoutError):
        pass  # the server closed the connection: what we want
    try:
        status_line = await asyncio.wait_for(answer, timeout=60)
    except ConnectionResetError:
        # The server answered and closed while we were still sending: the reset that our next bytes
        # provoked can discard its answer before we read it (no lingering close). The status is unknown.
        status_line = b""
    peak = max(peak, server.memory_info().rss)
    writer.close()
    status = int(status_line.split()[1]) if status_line else None
    return Probe(status, sent, peak - before)


async def answered(intake: Intake, path: str, key: str | None, content_length: int | None = None) -> Probe:
    """`stream_body` again (at most 3 times) while the reset of a closed connection hid the answer."""
    for _ in range(3):
        probe = await stream_body(intake, path, key, content_length)
        if probe.status is not None:
            return probe
    return probe


async def test_endless_chunked_body_without_a_key_is_401_and_never_held(intake_process: Intake) -> None:
    probe = await answered(intake_process, "/v1/events", key=None)
    assert probe.status == 401
    assert probe.sent < SENT_AT_MOST  # the server closed the connection instead of draining it
    assert probe.growth < 16 * MiB, probe


async def test_endless_chunked_body_with_a_key_is_413_past_16_mib_and_never_held(intake_process: Intake) -> None:
    probe = await answered(intake_process, "/v1/events", key=intake_process.key)
    assert probe.status == 413
    assert probe.sent < SENT_AT_MOST
    assert probe.growth < GROWTH_ALLOWED, probe


async def test_a_gigabyte_content_length_is_413_before_a_byte_is_read(intake_process: Intake) -> None:
    probe = await answered(intake_process, "/v1/events", key=intake_process.key, content_length=1024 * MiB)
    assert probe.status == 413 and probe.sent < SENT_AT_MOST and probe.growth < 16 * MiB, probe


async def test_other_intake_routes_stop_at_64_kib(intake_process: Intake) -> None:
    probe = await answered(intake_process, "/v1/reactivations", key=intake_process.key)
    assert probe.status == 413 and probe.growth < 16 * MiB, probe


async def test_intake_answers_401_then_413_then_422(settings: Settings) -> None:
    app = create_intake(IntakeSettings(**settings.model_dump()))
    async with running(app):
        key = await app.state.api_keys.issue("feed", ["events:write"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            bad_json = {"Content-Type": "application/json"}
            assert (await client.post("/v1/events", content=b"{not json", headers=bad_json)).status_code == 401
            oversized = b"x" * (16 * MiB + 1)
            assert (await client.post("/v1/events", content=oversized, headers=bad_json)).status_code == 401
            keyed = {**bad_json, "Authorization": f"Bearer {key}"}
            assert (await client.post("/v1/events", content=oversized, headers=keyed)).status_code == 413
            assert (await client.post("/v1/events", content=b"{not json", headers=keyed)).status_code == 422


async def chunks(total: int, size: int = 16 * KiB) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


async def test_registry_and_notifier_bodies_stop_at_64_kib(settings: Settings) -> None:
    registry = create_registry(RegistrySettings(**settings.model_dump()))
    async with running(registry):
        key = await registry.state.api_keys.issue("ops", ["participants:read"])
        transport = httpx.ASGITransport(app=registry)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            auth = {"Authorization": f"Bearer {key}"}
            assert (
                await client.request("GET", "/v1/stats", content=b"x" * (65 * KiB), headers=auth)
            ).status_code == 413
            # (A chunked body to a GET is never read by the route, so never held: the server discards it.)
            assert (await client.request("GET", "/v1/stats", content=b"x" * (65 * KiB))).status_code == 401
    # The notifier's webhooks: no keys there, only the limit (before the signature is looked at).
    notifier = create_notifier(NotifierSettings(**settings.model_dump()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notifier), base_url="http://notifier") as client:
        for path in ("/webhooks/whatsapp", "/webhooks/twilio"):
            assert (await client.post(path, content=b"x" * (65 * KiB))).status_code == 413, path
            assert (await client.post(path, content=chunks(4 * MiB))).status_code == 413, path

"""Simulator-only endpoints (/_sim/...) stay in the simulator: the production providers call only the
providers' public APIs, and only local development wires the simulator's WhatsApp stand-in."""

from __future__ import annotations

import asyncio
import sys
import types
from pathlib import Path

import httpx
from httpcore._synchronization import current_async_library

import services.notifier.providers  # noqa: F401 - as the sender imports it
from services.notifier import simulator
from services.notifier.providers.twilio_sms import TwilioSms
from services.notifier.providers.whatsapp import WhatsAppCloud
from services.notifier.settings import NotifierSettings

S = NotifierSettings(public_base_url="http://127.0.0.1:9")  # the simulator's callbacks go nowhere
PROVIDERS = Path(simulator.__file__).parent / "providers"


def recording_simulator(paths: list[str]) -> httpx.AsyncClient:
    """A client of the simulator app that records every path it is asked for."""
    app = simulator.create_app(S)

    async def record(request: httpx.Request) -> None:
        paths.append(request.url.path)

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=S.whatsapp_api_base, event_hooks={"request": [record]}
    )


def test_the_production_providers_never_call_a_simulator_path() -> None:
    async def run() -> list[str]:
        paths: list[str] = []
        async with recording_simulator(paths) as http:
            wa, sms = WhatsAppCloud(S, http), TwilioSms(S, http)
            sent = await wa.send("+6281234567890", "halo", "ref-1")
            assert sent.startswith("wamid.")
            # The Cloud API cannot be asked by our reference: the status webhook settles it instead.
            assert await wa.lookup("ref-1", "+6281234567890", "halo") is None
            await sms.send("+6281234567890", "halo", "ref-2")
            await sms.lookup("ref-2", "+6281234567890", "halo")
        return paths

    paths = asyncio.run(run())
    assert paths and not [p for p in paths if p.startswith("/_sim")], paths
    for source in PROVIDERS.glob("*.py"):
        assert "/_sim" not in source.read_text(), f"{source.name} names a simulator-only path"


def test_the_simulator_stand_in_finds_a_message_by_our_reference() -> None:
    async def run() -> None:
        paths: list[str] = []
        async with recording_simulator(paths) as http:
            wa = simulator.SimulatorWhatsApp(S, http)
            sent = await wa.send("+6281234567890", "halo", "ref-1")
            assert await wa.lookup("ref-1", "+6281234567890", "halo") == sent
            assert await wa.lookup("ref-unknown", "+6281234567890", "halo") is None
        assert "/_sim/lookup" in paths

    asyncio.run(run())


def test_only_local_development_wires_the_simulator_stand_in() -> None:
    from services.notifier.app import create_app

    local = create_app(S.model_copy(update={"pbi_env": "local"}))
    production = create_app(S.model_copy(update={"pbi_env": "production"}))
    assert type(local.state.sender.providers["WHATSAPP"]) is simulator.SimulatorWhatsApp
    assert type(production.state.sender.providers["WHATSAPP"]) is WhatsAppCloud


async def test_httpcore_finds_sniffio_installed() -> None:
    """httpcore imports sniffio at every lock it makes (several per provider call): installed (pyproject.toml),
    that is a look-up in sys.modules, not a failed search of every path entry (issue 20)."""
    assert current_async_library() == "asyncio"
    assert isinstance(sys.modules.get("sniffio"), types.ModuleType)

"""`pbi run SERVICE`: run one service in the foreground (uvicorn, the service's own port)."""

from __future__ import annotations

import importlib
import os
from typing import Annotated

import typer
import uvicorn

app = typer.Typer(help="Run a service in the foreground.", no_args_is_help=True)

SERVICES = ("intake", "registry", "notifier", "eligibility")


def _serve(service: str) -> None:
    module = importlib.import_module(f"services.{service}.app")
    settings = module.load_settings()
    # A process-wide choice, so made here where the process starts (not in the app, which tests
    # create inside their own process): e.g. the notifier yields the CPU on a shared machine.
    niceness = getattr(settings, "cpu_niceness", 0)
    if niceness:
        os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), niceness))
    uvicorn.run(
        f"services.{service}.app:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


def _make(service: str):  # type: ignore[no-untyped-def]
    def command() -> None:
        _serve(service)

    command.__doc__ = f"Run the {service} service."
    return command


for _name in SERVICES:
    app.command(_name)(_make(_name))


@app.command("simulator")
def simulator(
    port: Annotated[int, typer.Option()] = 8090,
    host: Annotated[str, typer.Option(help="0.0.0.0 inside a container")] = "127.0.0.1",
) -> None:
    """Run the local SMS/WhatsApp provider simulator."""
    uvicorn.run(
        "services.notifier.simulator:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
    )

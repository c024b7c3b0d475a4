"""`pbi run SERVICE [--role urgent|bulk|all]`: run one service in the foreground (uvicorn).

The urgent (or all) process serves the service's own port (HTTP_PORT); a bulk process serves its
health and metrics on that port + 100 (shared.settings.port_for). Which process runs at which CPU
priority is the launcher's choice (deploy/local/run.py, Kubernetes' PriorityClass), not this one's.

Every process runs on asyncio's own event loop, never uvloop (uvicorn's choice when it is installed, as
uvicorn[standard] installs it): on uvloop, a write to a connection the broker has closed raises RuntimeError,
which aiokafka does not catch (it expects OSError; aio-libs/aiokafka#1038, open). In `make chaos`'s cluster run
(session 24) that killed a consumer's metadata task when a broker was killed: its group coordinator then waited
for a metadata update that never came, holding the lock the offset commit needs, and the emergency consumer
stopped for good while its process still answered "ready". asyncio's loop drops such a write, and aiokafka sees
the closed connection through its read side, as a KafkaConnectionError it retries."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer
import uvicorn

from shared.settings import Role, port_for

EVENT_LOOP = "asyncio"  # not uvloop: see above

app = typer.Typer(help="Run a service in the foreground.", no_args_is_help=True)

SERVICES = ("intake", "registry", "notifier", "eligibility")
RoleOption = Annotated[
    Role,
    typer.Option(
        case_sensitive=False,
        help="urgent: what a patient's path needs (and the public port); bulk: the rest; all: both",
    ),
]


def _serve(service: str, role: Role) -> None:
    module = importlib.import_module(f"services.{service}.app")
    settings = module.load_settings()
    uvicorn.run(
        module.create_app(settings, role=role),
        host=settings.http_host,
        port=port_for(settings.http_port, role),
        loop=EVENT_LOOP,
        log_config=None,
        access_log=False,
    )


def _make(service: str):  # type: ignore[no-untyped-def]
    def command(role: RoleOption = Role.ALL) -> None:
        _serve(service, role)

    command.__doc__ = f"Run the {service} service (its urgent and bulk consumers, or one role's)."
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
        loop=EVENT_LOOP,
        log_config=None,
        access_log=False,
    )

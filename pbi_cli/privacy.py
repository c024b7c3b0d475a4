"""`pbi privacy erase NIK`: a person's right to erasure (UU PDP 27/2022), from the operator's console.

The same erasure as `DELETE /v1/participants/{nik}/personal-data` (services/registry/privacy.py): the
registry's contact data goes at once, with the marker, and the announcement to the other services is put
in the registry's outbox in the same transaction. The command then publishes that announcement itself
(and takes it off the outbox) so the other services erase without waiting for a running registry; if Kafka
cannot be reached it stays in the outbox and the registry's relay sends it. Only the masked NIK is printed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from sqlalchemy import select

from pbi_cli.common import console, run
from services.registry import privacy
from services.registry.store import MIGRATIONS, SCHEMA, outbox
from shared.db import make_engine, make_sessions, migrate, transaction
from shared.kafka_security import kafka_client_options
from shared.nik import NikError, mask_nik, parse_nik
from shared.outbox import OutboxRelay
from shared.settings import Settings

app = typer.Typer(help="Data-subject rights (UU PDP): erase a person's contact data.", no_args_is_help=True)


async def erase(settings: Settings, nik: str, now: dt.datetime) -> tuple[str, bool]:
    """Returns (the announcement's event id, whether this command published it)."""
    engine = make_engine(settings)
    relay = OutboxRelay(engine, outbox, settings.kafka_bootstrap_servers, client_options=kafka_client_options(settings))
    try:
        await migrate(engine, MIGRATIONS, SCHEMA)
        sessions = make_sessions(engine)
        async with transaction(sessions) as session:
            event = await privacy.erase(session, nik, "cli", now, settings.topic_prefix)
        async with transaction(sessions) as session:
            row = (await session.execute(select(outbox).where(outbox.c.event_id == event.event_id))).mappings().first()
        if row is None:  # the registry's relay was quicker
            return str(event.event_id), False
        # Published and taken off the outbox at once; if Kafka cannot be reached, left for the registry's relay.
        return str(event.event_id), await relay.publish_committed([row])
    finally:
        await relay.stop()  # never started: this only waits for the row's delete
        await engine.dispose()


@app.command("erase")
def erase_command(nik: Annotated[str, typer.Argument(help="The person's NIK (16 digits)")]) -> None:
    """Remove name, phone numbers and message texts for NIK in every service; decisions and status
    history stay. Running it twice is harmless."""
    try:
        parse_nik(nik)
    except NikError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    event_id, published = run(lambda s: erase(s, nik, dt.datetime.now(dt.UTC)))
    console.print(f"erased contact data of {mask_nik(nik)} in the registry (announcement {event_id})")
    if published:
        console.print("the other services were told and erase as they read it")
    else:
        console.print("the announcement waits in the registry's outbox: the running registry relays it")

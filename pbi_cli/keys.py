"""`pbi keys issue|revoke|list`: API keys with scopes, printed once, stored hashed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pbi_cli.common import console, run
from shared.auth import SCOPES, ApiKeyStore
from shared.db import make_engine
from shared.settings import Settings

app = typer.Typer(help="Issue, revoke and list API keys.", no_args_is_help=True)


async def _store(settings: Settings) -> ApiKeyStore:
    store = ApiKeyStore(make_engine(settings), settings.api_key_pepper.get_secret_value())
    await store.migrate()
    return store


@app.command("issue")
def issue(
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. 'RSUD Tangsel'")],
    scopes: Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(SCOPES)}")],
    facility: Annotated[list[str] | None, typer.Option(help="Facility code (emergency:write keys)")] = None,
    source: Annotated[
        str | None,
        typer.Option(help="The system the key's events come from, e.g. SIKS-NG (default: the name)"),
    ] = None,
    province: Annotated[
        str | None, typer.Option(help="Bind the key to a province (Kemendagri code, e.g. 36): worklist keys")
    ] = None,
    regency: Annotated[
        str | None, typer.Option(help="Bind the key to a regency/city (Kemendagri code, e.g. 36.74)")
    ] = None,
) -> None:
    """Issue a key; it is printed once, alone on the last line.

    Event scopes: events:deactivations, events:desil, events:biometric, events:deaths,
    events:nik_conflicts, events:id_semesta (one per event type); events:write means all of them.
    Every event the key posts gets its `source` from the key, whatever the body says.
    A key bound to a province or regency (--province/--regency) sees and closes only that region's
    worklist items (a Dinsos office's key)."""

    async def go(settings: Settings) -> str:
        store = await _store(settings)
        try:
            wanted = [s.strip() for s in scopes.split(",") if s.strip()]
            return await store.issue(name, wanted, facility or [], source, province, regency)
        finally:
            await store.engine.dispose()

    key = run(go)
    console.print(f"Issued key for [bold]{name}[/bold] ({scopes}). Store it now: it is not shown again.")
    print(key)


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (second part of the key, see `pbi keys list`)")],
) -> None:
    async def go(settings: Settings) -> bool:
        store = await _store(settings)
        try:
            return await store.revoke(key_id)
        finally:
            await store.engine.dispose()

    if not run(go):
        console.print(f"[red]no active key with id {key_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked key {key_id}")


@app.command("list")
def list_keys() -> None:
    async def go(settings: Settings):  # type: ignore[no-untyped-def]
        store = await _store(settings)
        try:
            return await store.list()
        finally:
            await store.engine.dispose()

    table = Table("key id", "name", "source", "scopes", "facilities", "region", "created", "revoked")
    for k in run(go):
        table.add_row(
            k.key_id,
            k.name,
            k.source or k.name,
            ",".join(k.scopes),
            ",".join(k.facility_codes),
            k.regency or k.province or "",
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        )
    console.print(table)

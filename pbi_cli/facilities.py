"""`pbi facilities add|import|list`: the health facility registry intake checks letters against."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from pbi_cli.common import console, run
from services.intake.store import MIGRATIONS, SCHEMA, Facility
from shared.db import make_engine, make_sessions, migrate
from shared.settings import Settings

app = typer.Typer(help="Register and list health facilities.", no_args_is_help=True)


async def _upsert(settings: Settings, rows: list[dict[str, str]]) -> int:
    engine = make_engine(settings)
    try:
        await migrate(engine, MIGRATIONS, SCHEMA)
        async with engine.begin() as conn:
            stmt = insert(Facility.__table__).values(rows)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["code"], set_={"name": stmt.excluded.name}))
        return len(rows)
    finally:
        await engine.dispose()


def _row(code: str, name: str, where: str) -> dict[str, str]:
    code, name = code.strip(), name.strip()
    if not code or not name or len(code) > 32:
        raise ValueError(f"{where}: a facility needs a code (at most 32 characters) and a name")
    return {"code": code, "name": name}


@app.command("add")
def add(
    code: Annotated[str, typer.Argument(help="Facility code, e.g. 3674R001")],
    name: Annotated[str, typer.Argument(help="Facility name")],
) -> None:
    """Register (or rename) one facility."""
    try:
        row = _row(code, name, "arguments")
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    run(lambda s: _upsert(s, [row]))
    console.print(f"facility {code} registered")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with columns code,name")],
) -> None:
    """Register every facility of a CSV file (columns: code,name)."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as f:
            rows = [
                _row(r.get("code") or "", r.get("name") or "", f"{file.name} line {i}")
                for i, r in enumerate(csv.DictReader(f), start=2)
            ]
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}; nothing registered")
        raise typer.Exit(2)
    if not rows:
        console.print(f"[red]error:[/red] {file.name} has no facilities (columns: code,name)")
        raise typer.Exit(2)
    n = run(lambda s: _upsert(s, rows))
    console.print(f"{n} facilities registered from {file}")


@app.command("list")
def list_facilities() -> None:
    async def go(settings: Settings) -> list[Facility]:
        engine = make_engine(settings)
        try:
            await migrate(engine, MIGRATIONS, SCHEMA)
            async with make_sessions(engine)() as session:
                return list((await session.execute(select(Facility).order_by(Facility.code))).scalars())
        finally:
            await engine.dispose()

    table = Table("code", "name")
    for f in run(go):
        table.add_row(f.code, f.name)
    console.print(table)

"""`pbi db upgrade|current|history`: every schema's Alembic migrations, by hand.

The services migrate themselves at start (shared.db.migrate); these commands are for an operator who
wants to migrate before a release, see where a database stands or read the history. The same history
runs from the alembic CLI: `alembic -c services/<svc>/alembic.ini upgrade head` (DATABASE_URL).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from rich.table import Table as RichTable
from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from pbi_cli.common import console, run
from shared.db import alembic_config, make_engine, migrate
from shared.settings import Settings

app = typer.Typer(help="Database migrations of every schema (Alembic).", no_args_is_help=True)


@dataclass(frozen=True)
class Migrated:
    """A schema with its own Alembic history: where its revisions live and which module declares its tables."""

    schema: str
    module: str  # declares SCHEMA and MIGRATIONS; the tables are found anywhere in its package

    @property
    def migrations(self) -> Path:
        return Path(importlib.import_module(self.module).MIGRATIONS)

    def metadata(self) -> MetaData:
        """The schema's tables as the models declare them today, wherever in the package they are: the
        SQLModel tables and any other Table a module holds (an outbox in its own MetaData)."""
        found = [t for mod in self._modules() for v in vars(mod).values() for t in _tables(v)]
        md = MetaData()
        for table in list(SQLModel.metadata.tables.values()) + found:
            if table.schema == self.schema and table.key not in md.tables:
                table.to_metadata(md)
        return md

    def _modules(self) -> list[ModuleType]:
        package = importlib.import_module(self.module.rsplit(".", 1)[0])
        names = [i.name for i in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
        return [importlib.import_module(n) for n in [self.module, *names] if ".migrations" not in n]


def _tables(value: object) -> list[Table]:
    if isinstance(value, Table):
        return [value]
    if isinstance(value, list | tuple) and any(isinstance(v, Table) for v in value):
        return [v for v in value if isinstance(v, Table)]
    return []


SCHEMAS = [
    Migrated("auth", "shared.auth.keys"),
    Migrated("intake", "services.intake.store"),
    Migrated("eligibility", "services.eligibility.store"),
    Migrated("registry", "services.registry.store"),
    Migrated("notifier", "services.notifier.store"),
]


def chosen(schema: str | None) -> list[Migrated]:
    if schema is None:
        return SCHEMAS
    found = [m for m in SCHEMAS if m.schema == schema]
    if not found:
        raise ValueError(f"unknown schema {schema!r}: one of {', '.join(m.schema for m in SCHEMAS)}")
    return found


def revisions(m: Migrated) -> list[str]:
    """The schema's revisions, oldest first (one line of history: a second head is an error)."""
    script = ScriptDirectory.from_config(alembic_config(m.migrations, m.schema))
    heads = script.get_heads()
    if len(heads) != 1:
        raise ValueError(f"{m.schema}: {len(heads)} heads {sorted(heads)}: chain the newest revision onto the other")
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current_revision(conn: Connection, schema: str) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    return ctx.get_current_revision()


def upgrade_to(conn: Connection, m: Migrated, revision: str) -> None:
    conn.execute(text(f'create schema if not exists "{m.schema}"'))
    command.upgrade(alembic_config(m.migrations, m.schema, conn), revision)


SchemaOption = Annotated[str | None, typer.Option("--schema", help="one schema (auth, intake, ...); all by default")]


@app.command()
def upgrade(
    schema: SchemaOption = None,
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Bring each schema to a revision (head by default), as the services do at start."""

    async def go(settings: Settings) -> None:
        engine = make_engine(settings)
        try:
            for m in chosen(schema):
                if revision == "head":
                    await migrate(engine, m.migrations, m.schema)
                else:
                    async with engine.begin() as conn:
                        await conn.run_sync(upgrade_to, m, revision)
                console.print(f"{m.schema}: upgraded to {revision}")
        finally:
            await engine.dispose()

    run(go)


@app.command()
def current(schema: SchemaOption = None) -> None:
    """Each schema's revision in the database, and whether it is the newest."""

    async def go(settings: Settings) -> None:
        engine = make_engine(settings)
        table = RichTable("schema", "current", "head")
        try:
            async with engine.connect() as conn:
                for m in chosen(schema):
                    now = await conn.run_sync(current_revision, m.schema)
                    head = revisions(m)[-1]
                    table.add_row(m.schema, now or "(empty)", "yes" if now == head else f"no: {head}")
        finally:
            await engine.dispose()
        console.print(table)

    run(go)


@app.command()
def history(schema: SchemaOption = None) -> None:
    """Each schema's revisions, oldest first, with what each one does."""
    for m in chosen(schema):
        script = ScriptDirectory.from_config(alembic_config(m.migrations, m.schema))
        console.print(f"[bold]{m.schema}[/bold]")
        for rev in revisions(m):
            doc = (script.get_revision(rev).doc or "").splitlines()[0]
            console.print(f"  {rev}: {doc}")

"""Entry point of `pbi`. Each command group lives in its own module and is registered here.

A group's module is imported only when that group runs (or when help lists them all): importing every
group costs about 1.5 s of CPU per call (each pulls in its service's models, Kafka, Alembic), which
`pbi keys issue` and `pbi facilities add` paid for nothing, dozens of times in a demo or a test run."""

from __future__ import annotations

import importlib
import importlib.util

import click
import typer
from typer.core import TyperGroup

# (module, command name): a group is registered only when its module exists, so services can
# add their commands in their own file.
_GROUPS = [
    ("pbi_cli.keys", "keys"),
    ("pbi_cli.facilities", "facilities"),
    ("pbi_cli.importer", "import"),
    ("pbi_cli.docs", "docs"),
    ("pbi_cli.dlq", "dlq"),
    ("pbi_cli.privacy", "privacy"),
    ("pbi_cli.demo", "demo"),
    ("pbi_cli.serve", "run"),
    ("pbi_cli.db", "db"),
]


class LazyGroups(TyperGroup):
    """The top-level group: each command group is built from its module when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for module, name in _GROUPS if importlib.util.find_spec(module) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = dict((name, module) for module, name in _GROUPS).get(cmd_name)
        if module_name is None or importlib.util.find_spec(module_name) is None:
            return None
        command = typer.main.get_group(importlib.import_module(module_name).app)
        command.name = cmd_name
        return command


app = typer.Typer(
    cls=LazyGroups,
    help="pbi-reactivation: reactivating PBI JKN participants.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _pbi() -> None:
    """pbi-reactivation: reactivating PBI JKN participants."""


if __name__ == "__main__":
    app()

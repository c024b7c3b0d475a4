"""Entry point of `pbi`. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="pbi-reactivation: reactivating PBI JKN participants.", no_args_is_help=True, pretty_exceptions_enable=False
)

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
for module_name, command in _GROUPS:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        continue
    app.add_typer(module.app, name=command)


if __name__ == "__main__":
    app()

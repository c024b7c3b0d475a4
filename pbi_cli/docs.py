"""`pbi docs asyncapi`: FastStream's AsyncAPI document for every topic in shared.topics.CATALOGUE."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from services.intake.asyncapi import asyncapi_document

app = typer.Typer(help="Generated documentation.", no_args_is_help=True)


@app.command("asyncapi")
def asyncapi(
    prefix: Annotated[str, typer.Option(help="Topic name prefix (settings.topic_prefix)")] = "",
) -> None:
    """Print the AsyncAPI document (JSON) for every topic the system uses."""
    typer.echo(json.dumps(asyncapi_document(prefix), indent=2, ensure_ascii=False))

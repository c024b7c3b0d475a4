"""`pbi docs asyncapi`: FastStream's AsyncAPI document for every topic in shared.topics.CATALOGUE."""

from __future__ import annotations

import json
import typing
from typing import Annotated, Any

import typer
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.events import AnyEvent, Event
from shared.topics import CATALOGUE

app = typer.Typer(help="Generated documentation.", no_args_is_help=True)


def event_models() -> dict[str, type[Event]]:
    """Event type string -> its model, from the AnyEvent union."""
    union = typing.get_args(AnyEvent)[0]
    return {m.model_fields["type"].default: m for m in typing.get_args(union)}


def asyncapi_document(prefix: str = "") -> dict[str, Any]:
    """The AsyncAPI 3.0 document: one channel per topic (and its dead-letter topic), payloads from shared.events."""
    models = event_models()
    broker = KafkaBroker("localhost:9092")  # never connected: only describes the channels
    for spec in CATALOGUE:
        payloads = [models[t] for t in spec.event_types]
        schema: Any = payloads[0] if len(payloads) == 1 else typing.Union[tuple(payloads)]  # noqa: UP007
        broker.publisher(
            prefix + spec.name,
            title=prefix + spec.name,
            description=f"{spec.description}. Key: NIK. Events: {', '.join(spec.event_types)}.",
            schema=schema,
        )
        if spec.has_dlq:
            broker.publisher(
                prefix + spec.dlq,
                title=prefix + spec.dlq,
                description=f"Dead letters of {prefix + spec.name}: the original record plus an x-dlq-reason header.",
                schema=schema,
            )
    spec_doc = AsyncAPI(
        broker,
        title="pbi-reactivation events",
        version="1",
        description="Every Kafka topic of the PBI JKN reactivation system (keyed by NIK).",
        schema_version="3.0.0",
    ).to_specification()
    return spec_doc.to_jsonable()


@app.command("asyncapi")
def asyncapi(
    prefix: Annotated[str, typer.Option(help="Topic name prefix (settings.topic_prefix)")] = "",
) -> None:
    """Print the AsyncAPI document (JSON) for every topic the system uses."""
    typer.echo(json.dumps(asyncapi_document(prefix), indent=2, ensure_ascii=False))

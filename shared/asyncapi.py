"""AsyncAPI from the brokers the services run: FastStream describes each subscriber that
shared.kafka.subscribe registered and each publisher a service declares for what it writes, and this
module gives each of them its payloads, the event models' own JSON schemas, one per event type the
topic carries (shared.topics), so the document cannot drift from the code or from the models.

FastStream would take a subscriber's payload from its handler's parameters; ours read raw records
(shared.kafka decodes them once, with the topic's TypeAdapter), so the payloads are set here."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import yaml
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.specification import KafkaPublisherSpecification
from faststream.kafka.subscriber.specification import KafkaSubscriberSpecification
from faststream.specification import AsyncAPI
from pydantic import BaseModel, TypeAdapter

from shared.events import Event
from shared.topics import TopicSpec

Models = tuple[type[BaseModel], ...]


def models_of(adapter: TypeAdapter[Any] | type[BaseModel] | Any) -> Models:
    """The pydantic models a TypeAdapter (or a type: a model, a union, Annotated...) validates."""
    tp = getattr(adapter, "_type", adapter)
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return (tp,)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(m for arg in typing.get_args(tp) for m in models_of(arg))
    if typing.get_origin(tp) is list:
        return models_of(typing.get_args(tp)[0])
    return ()


def event_type(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    return field.default if field is not None and isinstance(field.default, str) else None


def event_models() -> Models:
    """Every event model loaded (shared.events and the modules that add their own), subclasses included."""
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [Event]
    while pending:
        model = pending.pop()
        found.extend(m for m in model.__subclasses__() if event_type(m))
        pending.extend(model.__subclasses__())
    return tuple(dict.fromkeys(found))


def carried(spec: TopicSpec, models: Models) -> Models:
    """The models among `models` whose event type the catalogue says travels on `spec`'s topic
    (all of them when none names its type: a topic whose adapter is not a union of events)."""
    chosen = tuple(m for m in models if event_type(m) in spec.event_types)
    return chosen or models


def _payloads(models: Models) -> list[tuple[dict[str, Any], str]]:
    return [(m.model_json_schema(), m.__name__) for m in models]


def _with_payloads(specification: Any, base: type, models: Models) -> None:
    """FastStream's own specification class, answering `models` as its payloads."""
    described = type(
        f"Described{base.__name__}", (base,), {"__slots__": (), "get_payloads": lambda _: _payloads(models)}
    )
    specification.__class__ = described


def describe_subscriber(subscriber: Any, spec: TopicSpec, models: Models) -> None:
    _with_payloads(subscriber.specification, KafkaSubscriberSpecification, carried(spec, models))


def channel_title(service: str, topic: str) -> str:
    """One channel per (service, topic): a topic one service writes and another reads is two channels
    with one address, each with its operation (send or receive)."""
    return f"{service}:{topic}"


def subscriber_title(broker: KafkaBroker, service: str, topic: str, group: str) -> str:
    """The channel of a new subscriber: `service:topic`, with its group when the service reads the topic in
    another group too; empty for one more consumer of a group already described (one channel is enough)."""
    readers = [s for s in broker.subscribers if topic in s.specification.channel_labels]
    if any(getattr(s, "group_id", None) == group for s in readers):
        return ""
    return f"{channel_title(service, topic)}:{group}" if readers else channel_title(service, topic)


def declare_publisher(
    broker: KafkaBroker, service: str, topic: str, spec: TopicSpec, models: Models, description: str
) -> None:
    """A FastStream publisher that only documents what the service writes to `topic` (the service sends
    through its own producer or outbox relay); declared once per topic and broker."""
    title = channel_title(service, topic)
    if any(p.specification.name == title for p in broker.publishers):
        return
    publisher = broker.publisher(topic, title=title, description=description)
    _with_payloads(publisher.specification, KafkaPublisherSpecification, carried(spec, models))


def declare_publishers(
    broker: KafkaBroker,
    service: str,
    specs: typing.Iterable[TopicSpec],
    prefix: str,
    models: Models | None = None,
    *,
    dead_letters: typing.Iterable[TopicSpec] = (),
) -> None:
    """What a service writes, in app.py from the constant its producing code writes with (the intake
    Publisher's `topics`, eligibility's `domain.records.WRITES`, the notifier's sender and inbound, the
    registry's uow and privacy): one publisher per topic, payloads from `models` (by default every event
    model loaded, each on the topics the catalogue names for its type). `dead_letters`: topics whose `.dlq`
    the service writes itself, not as a reader (the notifier's messages that finally failed).
    tests/unit/shared/test_asyncapi_publishers.py fails when a service produces to a topic not declared."""
    models = models or event_models()
    for spec in specs:
        declare_publisher(broker, service, prefix + spec.name, spec, models, f"{spec.description}. Key: NIK.")
    for spec in dead_letters:
        dead = f"Dead letters of {prefix + spec.name} written by the {service} itself, reason in x-dlq-reason."
        declare_publisher(broker, service, prefix + spec.dlq, spec, models, dead)


def document(*brokers: KafkaBroker, title: str, description: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of these brokers' subscribers and publishers."""
    spec = AsyncAPI(*brokers, title=title, version="1", description=description, schema_version="3.0.0")
    return spec.to_specification().to_jsonable()


def as_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False)


def as_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)

"""The AsyncAPI document covers every topic of the catalogue, its dead letters, and every event model."""

from __future__ import annotations

from services.intake.asyncapi import asyncapi_document, event_models
from shared.topics import CATALOGUE, all_topic_names


def test_every_topic_and_dead_letter_topic_is_a_channel() -> None:
    doc = asyncapi_document("p.")
    assert doc["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses == set(all_topic_names("p."))


def test_every_event_type_of_the_catalogue_has_its_payload_schema() -> None:
    schemas = asyncapi_document()["components"]["schemas"]
    models = event_models()
    for spec in CATALOGUE:
        for event_type in spec.event_types:
            assert models[event_type].__name__ in schemas, event_type

"""The OpenAPI documents are contracts others integrate against: the events body is the union of
event types (discriminated on `type`, an example per type), every route names its errors as RFC 9457
problem details, status fields are enums. Built from the real apps (nothing is started)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from services.intake.api import EmergencyBody
from services.intake.app import create_app as intake_app
from services.notifier.app import create_app as notifier_app
from services.registry.app import create_app as registry_app
from shared.enums import ParticipantStatus, ReactivationPath, RequestStatus, SlaState
from shared.events import PARTICIPANT_EVENT_TYPES, participant_event_adapter
from shared.problems import PROBLEM_JSON

APPS = {"intake": intake_app, "registry": registry_app, "notifier": notifier_app}


@cache
def openapi(service: str) -> dict[str, Any]:
    return APPS[service]().openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


def events_body(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]


def test_events_body_is_one_event_of_a_discriminated_union_or_a_batch_of_them() -> None:
    doc = openapi("intake")
    assert events_body(doc)["schema"]["oneOf"] == [
        {"$ref": "#/components/schemas/ParticipantEvent"},
        {"$ref": "#/components/schemas/EventBatch"},
    ]
    union = schema(doc, "ParticipantEvent")
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(PARTICIPANT_EVENT_TYPES)
    assert {r["$ref"] for r in union["oneOf"]} == set(union["discriminator"]["mapping"].values())
    batch = schema(doc, "EventBatch")["properties"]["events"]
    assert batch["items"] == {"$ref": "#/components/schemas/ParticipantEvent"}
    assert (batch["minItems"], batch["maxItems"]) == (1, 10_000)


def test_each_event_schema_is_its_model_with_source_left_to_the_key() -> None:
    doc = openapi("intake")
    union = participant_event_adapter.json_schema(ref_template="#/components/schemas/{model}")
    for name, model in union["$defs"].items():
        published = schema(doc, name)
        if "properties" not in model or "source" not in model["properties"]:
            assert published == model, name
            continue
        assert "source" not in published["required"] and "source" in model["required"]
        assert {k: v for k, v in published["properties"].items() if k != "source"} == {
            k: v for k, v in model["properties"].items() if k != "source"
        }


def test_there_is_a_valid_example_of_every_event_type_and_of_a_batch() -> None:
    examples = events_body(openapi("intake"))["examples"]
    singles = [e["value"] for name, e in examples.items() if name != "batch"]
    assert {e["type"] for e in singles} == set(PARTICIPANT_EVENT_TYPES)
    for event in singles + examples["batch"]["value"]["events"]:
        participant_event_adapter.validate_python({**event, "source": "SIKS-NG"})


def test_no_route_of_any_service_documents_errors_other_than_as_problem_details() -> None:
    for service in APPS:
        doc = openapi(service)
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        for method, path, op in operations(doc):
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    assert set(response["content"]) == {PROBLEM_JSON}, (service, method, path, status)
                    ref = response["content"][PROBLEM_JSON]["schema"]["$ref"]
                    assert ref.endswith("/ValidationProblem" if status == "422" else "/Problem")


@pytest.mark.parametrize("service", ["intake", "registry"])
def test_every_api_route_names_the_front_doors_and_the_scopes_answers(service: str) -> None:
    for method, path, op in operations(openapi(service)):
        if not path.startswith("/v1/"):
            continue
        assert {"401", "403", "413", "429"} <= set(op["responses"]), (method, path)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in op["responses"], (method, path)


def test_intake_posts_name_conflicts_and_an_unavailable_broker_and_reads_name_not_found() -> None:
    doc = openapi("intake")
    for method, path, op in operations(doc):
        if method == "POST" and path.startswith("/v1/"):
            assert {"409", "422", "503"} <= set(op["responses"]), path
    assert "404" in doc["paths"]["/v1/reactivations/{request_id}"]["get"]["responses"]
    assert "404" in openapi("registry")["paths"]["/v1/participants/{nik}"]["get"]["responses"]


def test_webhooks_name_a_bad_signature_and_a_malformed_body() -> None:
    doc = openapi("notifier")
    for path in ("/webhooks/whatsapp", "/webhooks/twilio"):
        assert {"400", "401"} <= set(doc["paths"][path]["post"]["responses"])


def test_problem_schemas_have_the_rfc_9457_members_and_the_field_errors() -> None:
    doc = openapi("registry")
    assert {"type", "title", "status", "detail"} <= set(schema(doc, "Problem")["properties"])
    errors = schema(doc, "ValidationProblem")["properties"]["errors"]
    assert errors["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert "input" not in schema(doc, "FieldError")["properties"]  # the values sent are never echoed


def enum_of(doc: dict[str, Any], field: dict[str, Any]) -> list[str]:
    """The enum values a property allows, through $refs and nullable anyOfs."""
    for option in field.get("anyOf", [field]):
        if "$ref" in option:
            return schema(doc, option["$ref"].rsplit("/", 1)[-1])["enum"]
        if "enum" in option:
            return option["enum"]
    raise AssertionError(f"not an enum: {field}")


def test_status_fields_are_enums() -> None:
    intake, registry = openapi("intake"), openapi("registry")
    status = schema(intake, "ReactivationStatus")["properties"]
    assert enum_of(intake, status["status"]) == [s.value for s in RequestStatus]
    assert enum_of(intake, status["path"]) == [p.value for p in ReactivationPath]
    assert enum_of(intake, status["sla_state"]) == [s.value for s in SlaState]
    assert enum_of(intake, schema(intake, "RequestAccepted")["properties"]["status"]) == [
        s.value for s in RequestStatus
    ]
    statuses = [s.value for s in ParticipantStatus]
    for name in ("Participant", "MaskedParticipant", "HistoryEntry", "MaskedHistoryEntry"):
        assert enum_of(registry, schema(registry, name)["properties"]["status"]) == statuses, name
    assert enum_of(registry, schema(registry, "HistoryEntry")["properties"]["previous_status"]) == statuses
    by_status = schema(registry, "Stats")["properties"]["by_status"]
    assert enum_of(registry, by_status["propertyNames"]) == statuses


def test_registry_routes_answer_typed_models() -> None:
    paths = openapi("registry")["paths"]
    participant = paths["/v1/participants/{nik}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert [r["$ref"].rsplit("/", 1)[-1] for r in participant["schema"]["anyOf"]] == [
        "Participant",
        "MaskedParticipant",
    ]
    stats = paths["/v1/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert stats == {"$ref": "#/components/schemas/Stats"}


def test_the_readme_names_the_documents_and_its_curl_examples_are_valid_requests() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for document in ("/docs", "/openapi.json", "/asyncapi.json", "/asyncapi.yaml", "pbi docs asyncapi"):
        assert document in readme, document
    curls = re.findall(r"curl -s localhost:(\d+)(/v1/[\w/-]+)(.*?)(?:\n\n|\n#)", readme, re.S)
    posted = {
        path: json.loads(re.sub(r"\s*\n\s*", " ", body[0]))
        for _, path, rest in curls
        if (body := re.findall(r"-d '(.*?)'", rest, re.S))
    }
    participant_event_adapter.validate_python({**posted["/v1/events"], "source": "SIKS-NG"})
    EmergencyBody.model_validate(posted["/v1/hospital/emergency-reactivations"])
    ports = {"8080": "intake", "8081": "registry"}
    for port, path, _ in curls:
        assert path in openapi(ports[port])["paths"], path
    assert {path for _, path, _ in curls} >= {"/v1/events", "/v1/hospital/emergency-reactivations", "/v1/stats"}

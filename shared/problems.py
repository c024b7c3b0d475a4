"""Errors as RFC 9457 problem details (`application/problem+json`), the same on every service.

`install_problem_details(app)` makes every error answer one: HTTPException (and the front door's
413), validation errors (422, with each bad field under `errors`, never the input sent), and it
documents them in the app's OpenAPI (shared schemas, 401/413/429 on every protected route, the
problem 422 in place of FastAPI's default). Routes add their own statuses with
`responses=problem_responses(403, 404, 409, ...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from shared.masking import mask_personal_data

PROBLEM_JSON = "application/problem+json"
ABOUT_BLANK = "about:blank"  # RFC 9457 4.2.1: no semantics beyond the status code


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(ABOUT_BLANK, description="URI of the problem type; about:blank: see the status")
    title: str = Field(description="Short summary of the problem type (the HTTP status phrase)")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request, for a person to read")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query, path or header, then the field path")
    msg: str
    type: str = Field(description="The error's code (missing, string_too_short, extra_forbidden...)")


class ValidationProblem(Problem):
    errors: list[FieldError] = Field(description="Every bad field (the values sent are never echoed)")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem(status: int, detail: str, headers: Mapping[str, str] | None = None, **extra: Any) -> ProblemResponse:
    """The answer for `status`; `extra`: extension members (e.g. `errors`)."""
    body = {"type": ABOUT_BLANK, "title": _phrase(status), "status": status, "detail": detail, **extra}
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """loc, msg and type of each error: never `input` or `ctx` (they may hold a whole NIK), and a NIK or
    phone number used as a key of the body (an unexpected field's name is in `loc`) is masked."""
    return [
        {
            "loc": [mask_personal_data(p) if isinstance(p, str) else p for p in e.get("loc", ())],
            "msg": mask_personal_data(str(e.get("msg", ""))),
            "type": e.get("type"),
        }
        for e in errors
    ]


def validation_problem(errors: Iterable[Mapping[str, Any]]) -> ProblemResponse:
    fields = field_errors(errors)
    names = ", ".join(dict.fromkeys(".".join(str(p) for p in f["loc"]) for f in fields))
    return problem(422, f"invalid request: {names}" if names else "invalid request", errors=fields)


async def _on_http_exception(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, HTTPException)
    extra: dict[str, Any] = {}
    detail = exc.detail
    if isinstance(detail, Mapping):  # a route's structured detail: its members kept as extensions
        extra = {k: v for k, v in detail.items() if k not in ("type", "title", "status", "detail")}
        detail = detail.get("detail", _phrase(exc.status_code))
    elif isinstance(detail, list):
        extra, detail = {"errors": detail}, _phrase(exc.status_code)
    return problem(exc.status_code, str(detail), exc.headers, **extra)


async def _on_validation_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(exc.errors())


def _problem_content(schema: str) -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


# What each status means on this system's routes (CONTRACT.md).
MEANINGS = {
    400: "Malformed request",
    401: "Missing, unknown or revoked API key (answered before the body is read)",
    403: "The key lacks the scope, or may not act for this facility or event type",
    404: "Not found",
    409: "Conflict (e.g. Idempotency-Key reused with another body, or still being processed)",
    413: "Body over the route's limit (answered without holding it)",
    422: "Validation error: every bad field under `errors`",
    429: "Too many attempts with a missing or unknown key (see Retry-After)",
    503: "A dependency (broker, database) is unavailable: nothing was accepted, retry (see Retry-After)",
}


def problem_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status as problem+json (422 with its `errors`).
    `described`: own descriptions, keyed `s409="..."`."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "description": described.get(f"s{status}", MEANINGS.get(status, _phrase(status))),
            "content": _problem_content("ValidationProblem" if status == 422 else "Problem"),
        }
    return out


def component_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema and the ones it refers to, keyed by name, for components/schemas."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), model.__name__: schema}


GUARDED = (401, 413, 429)  # what shared.http_guard.FrontDoor may answer on a protected route


def install_problem_details(app: FastAPI, components: Callable[[], dict[str, Any]] | None = None) -> None:
    """Problem details for every error of `app`, and its OpenAPI saying so (the routes behind the
    front door with its 401, 413 and 429); `components`: more schemas for components/schemas."""
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (Problem, ValidationProblem):
            schemas.update(component_schemas(model))
        schemas.update((components or dict)())
        for schema in ("HTTPValidationError", "ValidationError"):  # FastAPI's, replaced by ours
            schemas.pop(schema, None)
        protected = _guarded_prefixes(app)
        for path, operations in doc.get("paths", {}).items():
            for operation in operations.values():
                _document_errors(operation, path.startswith(protected))
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _guarded_prefixes(app: FastAPI) -> tuple[str, ...]:
    """The path prefixes shared.http_guard.FrontDoor checks keys on, as the app added it."""
    from shared.http_guard import FrontDoor  # (it answers with problem(): imported late)

    for middleware in app.user_middleware:
        if middleware.cls is FrontDoor and middleware.kwargs.get("authenticate") is not None:
            protected: Iterable[str] = middleware.kwargs.get("protected", ())  # type: ignore[assignment]
            return tuple(protected)
    return ()


def _document_errors(operation: dict[str, Any], guarded: bool) -> None:
    responses = operation.setdefault("responses", {})
    if "422" in responses and PROBLEM_JSON not in responses["422"].get("content", {}):
        responses["422"] = problem_responses(422)[422]  # FastAPI's default HTTPValidationError answer
    if guarded:
        for status in GUARDED:
            responses.setdefault(str(status), problem_responses(status)[status])
    if operation.get("security"):  # a key's scopes are checked (shared.auth.dependencies): 403
        responses.setdefault("403", problem_responses(403)[403])

"""HTTP API of the registry (port 8081): participant status with history, and stats.

A `participants:read` key reads the whole record; a `dashboard:read` key (operations screens) only
its masked view: no desil, death, ID Semesta, deactivation reason or who sent which fact."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from services.registry import queries
from services.registry.privacy_api import log_read
from services.registry.responses import MaskedParticipant, Participant, Stats
from shared.auth import Principal
from shared.auth.dependencies import require_any_scope
from shared.nik import NikError, mask_nik, parse_nik
from shared.problems import problem_responses

router = APIRouter(tags=["registry"])
can_read = require_any_scope("participants:read", "dashboard:read")


def masked_view(record: dict[str, Any]) -> dict[str, Any]:
    """What a dashboard may show of a person: where they stand and when it changed, nothing else."""
    return {
        "nik": mask_nik(record["nik"]),
        "status": record["status"],
        "deactivated_on": record["deactivated_on"],
        "window_closes_at": record["window_closes_at"],
        "region": record["region"],
        "history": [
            {"occurred_at": h["occurred_at"], "previous_status": h["previous_status"], "status": h["status"]}
            for h in record["history"]
        ],
        "masked": True,
    }


@router.get(
    "/v1/participants/{nik}",
    response_model=Participant | MaskedParticipant,
    responses=problem_responses(403, 404, 422),
)
async def get_participant(nik: str, request: Request, principal: Principal = Depends(can_read)) -> dict[str, Any]:
    try:
        parse_nik(nik)
    except NikError as exc:
        raise RequestValidationError([{"loc": ("path", "nik"), "msg": str(exc), "type": "value_error"}])
    found = await queries.participant(request.app.state.engine, nik)
    await log_read(request, principal, nik, found)  # every read is on record before it is answered (UU PDP)
    if found is None:
        raise HTTPException(404, "no participant with this NIK is known to the registry")
    return found if "participants:read" in principal.scopes else masked_view(found)


@router.get("/v1/stats", dependencies=[Depends(can_read)], response_model=Stats, responses=problem_responses(403))
async def get_stats(request: Request) -> dict[str, Any]:
    return await queries.stats(request.app.state.engine)

"""HTTP API of the registry (port 8081): participant status with history, and stats."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError

from services.registry import queries
from shared.auth.dependencies import require_any_scope
from shared.nik import NikError, parse_nik

router = APIRouter(tags=["registry"])
can_read = require_any_scope("participants:read", "dashboard:read")


@router.get("/v1/participants/{nik}", dependencies=[Depends(can_read)])
async def get_participant(nik: str, request: Request) -> dict[str, Any]:
    try:
        parse_nik(nik)
    except NikError as exc:
        raise RequestValidationError([{"loc": ("path", "nik"), "msg": str(exc), "type": "value_error"}])
    found = await queries.participant(request.app.state.engine, nik)
    if found is None:
        raise HTTPException(404, "no participant with this NIK is known to the registry")
    return found


@router.get("/v1/stats", dependencies=[Depends(can_read)])
async def get_stats(request: Request) -> dict[str, Any]:
    return await queries.stats(request.app.state.engine)

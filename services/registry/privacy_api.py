"""Data-subject rights over HTTP (scope `privacy:admin`): erase a person's contact data in every service,
and show who read their record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.registry import privacy
from services.registry.access_log import AccessLog
from shared.auth import Principal
from shared.auth.dependencies import require_any_scope
from shared.auth.scopes import PRIVACY_ADMIN
from shared.db import make_sessions, transaction
from shared.nik import NikError, mask_nik, parse_nik
from shared.problems import problem_responses

router = APIRouter(tags=["privacy"])
can_administer = require_any_scope(PRIVACY_ADMIN)


class ErasureAccepted(BaseModel):
    nik: str = Field(description="Masked")
    erased_at: dt.datetime
    event_id: str = Field(description="The participant.personal_data_erased announcement to the other services")
    status: Literal["ACCEPTED"]


class Read(BaseModel):
    key_id: str
    read_at: dt.datetime
    view: Literal["full", "masked", "not_found"]


class AccessLogPage(BaseModel):
    nik: str = Field(description="Masked")
    reads: list[Read] = Field(description="Newest first")
    next: int | None = Field(description="`before` for the next page; null on the last")


@dataclass(frozen=True)
class Privacy:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    prefix: str
    wake_outbox: Callable[[], None]
    access_log: AccessLog


def install(app: FastAPI, engine: AsyncEngine, prefix: str, wake_outbox: Callable[[], None]) -> None:
    """Routes and state of this module (app.state.privacy; its access_log is what the participant read uses)."""
    app.state.privacy = Privacy(engine, make_sessions(engine), prefix, wake_outbox, AccessLog(engine))
    app.include_router(router)


def valid_nik(nik: str) -> str:
    try:
        parse_nik(nik)
    except NikError as exc:
        raise RequestValidationError([{"loc": ("path", "nik"), "msg": str(exc), "type": "value_error"}])
    return nik


@router.delete(
    "/v1/participants/{nik}/personal-data",
    status_code=202,
    response_model=ErasureAccepted,
    responses=problem_responses(403, 422),
)
async def erase_personal_data(
    nik: str, request: Request, principal: Principal = Depends(can_administer)
) -> dict[str, Any]:
    """Removes name, phone numbers and message texts here at once and in the other services as they
    read the announcement (202). Decisions and status history stay. Erasing twice is harmless."""
    valid_nik(nik)
    state: Privacy = request.app.state.privacy
    now = dt.datetime.now(dt.UTC)
    async with transaction(state.sessions) as session:
        event = await privacy.erase(session, nik, principal.key_id, now, state.prefix)
    state.wake_outbox()
    return {"nik": mask_nik(nik), "erased_at": now, "event_id": str(event.event_id), "status": "ACCEPTED"}


@router.get("/v1/participants/{nik}/access-log", response_model=AccessLogPage, responses=problem_responses(403, 422))
async def access_log(
    nik: str,
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, ge=1, description="`next` of the previous page"),
    _: Principal = Depends(can_administer),
) -> dict[str, Any]:
    """Every read of this person's record, newest first: which key, when, which view."""
    valid_nik(nik)
    async with request.app.state.privacy.engine.connect() as conn:
        reads = await privacy.reads_of(conn, nik, limit, before)
    return {
        "nik": mask_nik(nik),
        "reads": [{"key_id": r["key_id"], "read_at": r["read_at"], "view": r["view"]} for r in reads],
        "next": reads[-1]["id"] if len(reads) == limit else None,
    }


async def log_read(request: Request, principal: Principal, nik: str, found: dict[str, Any] | None) -> None:
    """Put this read of `nik` on record before it is answered (services/registry/access_log.py); a lookup
    of a NIK the registry does not know is recorded too (someone held that NIK and asked)."""
    view = "not_found" if found is None else "full" if "participants:read" in principal.scopes else "masked"
    await request.app.state.privacy.access_log.record(nik, principal.key_id, view)

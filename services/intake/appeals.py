"""Appeals of rejections (CONTRACT.md, Appeals): accept one, show it, let an operator dismiss it.

- `POST /v1/appeals` (reactivations:write): 409 unless the request is REJECTED in the read model and has
  no appeal yet (one appeal per decision); the row first, then `appeal.requested` on the appeals topic;
  202 with the appeal id and its due date (the appeal SLA of eligibility's policy file, 14 days).
- `GET /v1/appeals/{appeal_id}` (or `?request_id=`, the request a worklist item names): OPEN | UPHELD |
  DISMISSED, kept up to date from eligibility's appeal.updated events (uow.apply_appeals).
  Eligibility opens and re-evaluates the appeal; one it refuses (a race with a WhatsApp appeal of the
  same request) shows DISMISSED with the refusal.
- `POST /v1/appeals/{appeal_id}/decision` (worklist:write, within the key's region): an operator
  dismisses an open appeal (`appeal.reviewed`). Nobody upholds by hand: an appeal is upheld by the
  rules once the missing fact is recorded (a re-ranking, a biometric recording, a resolved conflict).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from services.intake.api import IdemKey, _unavailable_is_503, idempotent
from services.intake.domain.idempotency import NAMESPACE
from services.intake.policy import appeal_sla
from services.intake.store import AppealView, RequestView
from shared.auth import Principal
from shared.auth.dependencies import require_any_scope
from shared.enums import AppealStatus, Channel
from shared.events import AppealRequested, AppealReviewed, Documents
from shared.nik import mask_nik
from shared.problems import problem_responses
from shared.regions import current_regency_code
from shared.topics import APPEALS

log = structlog.get_logger(__name__)
router = APIRouter(tags=["appeals"])


class AppealBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: uuid.UUID
    grounds: Annotated[str, Field(min_length=1, max_length=1000)]
    documents: Documents = Documents()
    channel: Literal[Channel.DINSOS, Channel.VILLAGE] = Channel.DINSOS


class AppealAccepted(BaseModel):
    appeal_id: uuid.UUID
    status: Literal["OPEN"] = "OPEN"
    due_at: dt.datetime


class AppealDecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal[AppealStatus.DISMISSED]
    note: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class AppealDecisionAccepted(BaseModel):
    appeal_id: uuid.UUID
    decision: str = Field(description="DISMISSED: recorded by eligibility unless the appeal was upheld meanwhile")


class AppealState(BaseModel):
    appeal_id: uuid.UUID
    request_id: uuid.UUID
    status: Literal["OPEN", "UPHELD", "DISMISSED"]
    reasons: list[str] = Field(description="OPEN/DISMISSED: the decision reasons still failing")
    channel: str
    received_at: dt.datetime
    due_at: dt.datetime
    decided_at: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def appeal_id_for(key_id: str, idempotency_key: str | None) -> uuid.UUID:
    """As request ids: a retried submission (same Idempotency-Key) is the same appeal."""
    return uuid.uuid5(NAMESPACE, f"appeal:{key_id}:{idempotency_key}") if idempotency_key else uuid.uuid4()


@router.post(
    "/v1/appeals", status_code=202, response_model=AppealAccepted, responses=problem_responses(403, 404, 409, 422, 503)
)
async def post_appeal(
    request: Request,
    body: AppealBody,
    principal: Principal = Depends(require_any_scope("reactivations:write")),
    idempotency_key: IdemKey = None,
) -> Any:
    async with idempotent(request, principal, idempotency_key, body.model_dump(mode="json")) as slot:
        if slot.replay:
            return slot.replay
        slot.response = await _accept(request, principal, body, appeal_id_for(principal.key_id, idempotency_key))
        return slot.response


async def _accept(request: Request, principal: Principal, body: AppealBody, appeal_id: uuid.UUID) -> AppealAccepted:
    sessions = request.app.state.sessions
    async with sessions() as session:
        rejected = await session.get(RequestView, body.request_id)
    if rejected is None:
        raise HTTPException(404, "no request with this id")
    if rejected.status != "REJECTED":
        raise HTTPException(409, f"only a rejected request can be appealed; this one is {rejected.status}")
    now = _now()
    due = now + appeal_sla()
    t = AppealView.__table__
    async with sessions() as session, session.begin():
        created = (
            await session.execute(
                insert(t)
                .values(
                    appeal_id=appeal_id,
                    request_id=body.request_id,
                    nik=rejected.nik,
                    channel=body.channel.value,
                    status=AppealStatus.OPEN.value,
                    reasons=list(rejected.reasons),
                    received_at=now,
                    due_at=due,
                )
                .on_conflict_do_nothing()
                .returning(t.c.appeal_id)
            )
        ).first() is not None
        if not created:
            earlier = (await session.execute(select(t).where(t.c.request_id == body.request_id))).mappings().first()
            if earlier is None or earlier["appeal_id"] != appeal_id:
                found = f" ({earlier['appeal_id']}, {earlier['status']})" if earlier else ""
                raise HTTPException(409, f"this decision was appealed already{found}: one appeal per decision")
            due, now = earlier["due_at"], earlier["received_at"]  # a retry after intake died mid-request
    event = AppealRequested(
        event_id=uuid.uuid5(appeal_id, "requested"),
        occurred_at=now,
        source=f"intake:{principal.key_id}",
        nik=rejected.nik,
        appeal_id=appeal_id,
        request_id=body.request_id,
        grounds=body.grounds,
        documents=body.documents,
        channel=body.channel,
        received_at=now,
        due_at=due,
    )
    try:
        with _unavailable_is_503():
            await request.app.state.publisher.publish(APPEALS.name, [event])
    except HTTPException:
        if created:  # not accepted: it must not show up as an open appeal
            async with sessions() as session, session.begin():
                await session.execute(delete(t).where(t.c.appeal_id == appeal_id))
        raise
    log.info("appeal_accepted", appeal_id=str(appeal_id), request_id=str(body.request_id), nik=mask_nik(rejected.nik))
    return AppealAccepted(appeal_id=appeal_id, due_at=due)


@router.get("/v1/appeals", response_model=AppealState, responses=problem_responses(403, 404, 422))
async def find_appeal(
    request: Request,
    request_id: uuid.UUID,
    _: Principal = Depends(require_any_scope("reactivations:write", "participants:read", "worklist:read")),
) -> Any:
    """The appeal of a request (`?request_id=`): an APPEAL_REVIEW item on the worklist names the request."""
    async with request.app.state.sessions() as session:
        row = (
            await session.execute(select(AppealView).where(AppealView.request_id == request_id))
        ).scalar_one_or_none()
    if row is None:
        raise HTTPException(404, "no appeal of this request")
    return AppealState.model_validate(row, from_attributes=True)


@router.get("/v1/appeals/{appeal_id}", response_model=AppealState, responses=problem_responses(403, 404, 422))
async def get_appeal(
    request: Request,
    appeal_id: uuid.UUID,
    _: Principal = Depends(require_any_scope("reactivations:write", "participants:read", "worklist:read")),
) -> Any:
    row = await _appeal(request, appeal_id)
    return AppealState.model_validate(row, from_attributes=True)


@router.post(
    "/v1/appeals/{appeal_id}/decision",
    status_code=202,
    response_model=AppealDecisionAccepted,
    responses=problem_responses(403, 404, 409, 422, 503),
)
async def post_appeal_decision(
    request: Request,
    appeal_id: uuid.UUID,
    body: AppealDecisionBody,
    principal: Principal = Depends(require_any_scope("worklist:write")),
) -> Any:
    """Dismiss an open appeal. Done twice is harmless; an upheld appeal cannot be dismissed (409)."""
    row = await _appeal(request, appeal_id)
    if not in_region(principal, row.nik):
        raise HTTPException(403, "this key may only decide appeals of its own region")
    if row.status == AppealStatus.UPHELD.value:
        raise HTTPException(409, "this appeal was upheld: the request is approved")
    event = AppealReviewed(
        event_id=uuid.uuid5(appeal_id, "reviewed"),
        occurred_at=_now(),
        source=f"intake:{principal.key_id}",
        nik=row.nik,
        appeal_id=appeal_id,
        reviewer=principal.key_id,
        note=body.note,
    )
    with _unavailable_is_503():
        await request.app.state.publisher.publish(APPEALS.name, [event])
    log.info("appeal_reviewed", appeal_id=str(appeal_id), reviewer=principal.key_id, decision=body.status.value)
    return AppealDecisionAccepted(appeal_id=appeal_id, decision=body.status.value)


async def _appeal(request: Request, appeal_id: uuid.UUID) -> AppealView:
    async with request.app.state.sessions() as session:
        row = await session.get(AppealView, appeal_id)
    if row is None:
        raise HTTPException(404, "no appeal with this id")
    return row


def in_region(principal: Principal, nik: str) -> bool:
    """A key bound to a province or regency decides only its own people's appeals (by the NIK's codes,
    an old regency code read as today's)."""
    regency = current_regency_code(nik[:4])
    if principal.regency:
        return regency == principal.regency
    return principal.province is None or regency[:2] == principal.province

"""The intake HTTP API (CONTRACT.md): events, reactivation requests, hospital emergencies, status."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import and_, delete, exists, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from services.intake.bulk import BatchForbidden, BulkWorkerUnavailable
from services.intake.domain.idempotency import body_hash, request_id_for, sla_state
from services.intake.events_body import InvalidBody, decode_body, event_types, parse_events
from services.intake.events_openapi import EVENTS_BODY
from services.intake.metrics import PUBLISHED
from services.intake.policy import emergency_sla, emergency_warning
from services.intake.publisher import BrokerUnavailable, PublishOutcomeUnknown
from services.intake.store import Facility, IdempotencyKey, RequestView
from shared.auth import Principal, forbidden_event_types
from shared.auth.dependencies import require_any_scope
from shared.auth.scopes import ANY_EVENTS
from shared.enums import Channel, ReactivationPath, RequestStatus, SlaState
from shared.events import Documents, HospitalLetter, ReactivationRequested
from shared.messaging import context_headers, wire_headers
from shared.nik import Nik, mask_nik
from shared.phone import Phone
from shared.problems import problem_responses
from shared.topics import EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS
from shared.tx_lease import holder_alive

log = structlog.get_logger(__name__)
# A POST /v1/events body larger than this goes to the bulk worker process as bytes, never parsed in the
# HTTP process (services.intake.bulk): about 100 events, so THREAD_BATCH events always do.
WORKER_BODY_BYTES = 32 * 1024
THREAD_BATCH = 200

router = APIRouter(tags=["intake"])
IDEMPOTENCY_TTL = dt.timedelta(hours=24)
# The emergency SLA's lengths are eligibility's policy, whose timers they must match (services.intake.policy).
SLA, SLA_WARNING = emergency_sla(), emergency_warning()


class ReactivationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nik: Nik
    path: ReactivationPath
    channel: Channel
    phone: Phone | None = None
    documents: Documents = Documents()


# CONTRACT.md takes an optional diagnosis on the hospital endpoint and says nothing of what becomes of it.
# It is validated (a malformed code is a 422 the hospital can correct) and then kept nowhere: the request
# event has no field for it (a hospital letter carries none; a doctor letter needs a register number this
# endpoint does not take, and is the CHRONIC path's document), no rule decides by it (an emergency needs its
# hospital letter and registered facility), and a diagnosis is health data, specific personal data under
# UU PDP 27/2022, which no service may carry to three others or keep without a purpose.
DIAGNOSIS_KEPT_NOWHERE = "ICD-10 code; checked for its form, then neither published nor stored"


class EmergencyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nik: Nik
    facility_code: Annotated[str, Field(min_length=1, max_length=32)]
    letter_no: Annotated[str, Field(min_length=1, max_length=64)]
    admitted_at: AwareDatetime
    diagnosis_icd10: (
        Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$", description=DIAGNOSIS_KEPT_NOWHERE)] | None
    ) = None
    phone: Phone | None = None


class EventsAccepted(BaseModel):
    accepted: int
    event_ids: list[uuid.UUID]


class ReactivationStatus(BaseModel):
    request_id: uuid.UUID
    status: RequestStatus
    path: ReactivationPath
    reasons: list[str] = Field(description="decision reason codes")
    received_at: dt.datetime
    decided_at: dt.datetime | None
    sla_deadline: dt.datetime | None = Field(None, description="emergency requests only")
    sla_state: SlaState | None = Field(None, description="emergency requests only")


class RequestAccepted(BaseModel):
    request_id: uuid.UUID
    status: RequestStatus = RequestStatus.RECEIVED
    sla_deadline: dt.datetime | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


IN_PROGRESS = 0  # status_code of a claimed key whose first request has not answered yet
STALE_CLAIM = dt.timedelta(seconds=60)  # a claim left by a crashed request (publishing gives up after 30 s)
# ...taken over sooner when the process that made it is known dead (its instance token's lock is gone)


@dataclass
class IdempotencySlot:
    replay: JSONResponse | None = None
    response: BaseModel | dict[str, Any] | None = None  # what a replay answers (a dict: JSON as it is)


@asynccontextmanager
async def idempotent(
    request: Request, principal: Principal, key: str | None, body: Any = None, digest: str | None = None
) -> AsyncIterator[IdempotencySlot]:
    """Idempotency-Key (CONTRACT.md): the key is claimed before anything is published, so two concurrent
    requests with one key never both publish. Same body -> the first answer (slot.replay); different body
    -> 409; a failed first request (422, 503...) releases the key. Keys expire after 24 h."""
    slot = IdempotencySlot()
    if not key:
        yield slot
        return
    t = IdempotencyKey.__table__
    digest, now = digest or body_hash(body), _now()
    lease = request.app.state.lease  # the HTTP process's: its instance token marks the claim as this process's
    holder = await lease.held_instance() if lease is not None else None
    async with request.app.state.sessions() as session, session.begin():
        claimed = (
            await session.execute(
                insert(t)
                .values(
                    key=key,
                    principal=principal.key_id,
                    body_hash=digest,
                    status_code=IN_PROGRESS,
                    response={},
                    created_at=now,
                    holder=holder,
                )
                .on_conflict_do_update(
                    index_elements=["key", "principal"],
                    set_={
                        "body_hash": digest,
                        "status_code": IN_PROGRESS,
                        "response": {},
                        "created_at": now,
                        "holder": holder,
                    },
                    where=or_(
                        t.c.created_at < now - IDEMPOTENCY_TTL,
                        and_(
                            t.c.status_code == IN_PROGRESS,
                            or_(
                                t.c.created_at < now - STALE_CLAIM,
                                and_(t.c.holder.is_not(None), ~holder_alive(t.c.holder)),  # its process died
                            ),
                        ),
                    ),
                )
                .returning(t.c.key)
            )
        ).first()
        if claimed is None:
            row = await session.get(IdempotencyKey, (key, principal.key_id), populate_existing=True)
    if claimed is None:
        assert row is not None
        if row.body_hash != digest:
            raise HTTPException(409, "Idempotency-Key was already used with a different body")
        if row.status_code == IN_PROGRESS:
            raise HTTPException(
                409, "a request with this Idempotency-Key is still being processed", headers={"Retry-After": "1"}
            )
        slot.replay = JSONResponse(row.response, status_code=row.status_code, headers={"Idempotent-Replay": "true"})
        yield slot
        return
    mine = and_(t.c.key == key, t.c.principal == principal.key_id, t.c.status_code == IN_PROGRESS)
    try:
        yield slot
    except BaseException:
        async with request.app.state.sessions() as session, session.begin():
            await session.execute(delete(t).where(mine))
        raise
    assert slot.response is not None
    response = slot.response
    stored = response if isinstance(response, dict) else response.model_dump(mode="json", exclude_none=True)
    async with request.app.state.sessions() as session, session.begin():
        await session.execute(update(t).where(mine).values(status_code=202, response=stored))


@contextmanager
def _unavailable_is_503() -> Iterator[None]:
    """Kafka (or the bulk worker) could not take it: nothing was accepted, the client retries."""
    try:
        yield
    except BrokerUnavailable:
        raise HTTPException(
            503, "event broker unavailable: nothing was accepted, please retry", headers={"Retry-After": "5"}
        )
    except BulkWorkerUnavailable as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"})


@contextmanager
def _invalid_is_422() -> Iterator[None]:
    """A bad body (events_body.InvalidBody): FastAPI's 422, naming each bad field."""
    try:
        yield
    except InvalidBody as exc:
        raise RequestValidationError(exc.errors()) from None


async def _publish(request: Request, topic: str, events: list) -> None:  # type: ignore[type-arg]
    with _unavailable_is_503():
        await request.app.state.publisher.publish(topic, events)


IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _forbidden(types: list[str]) -> HTTPException:
    return HTTPException(403, f"this key may not post {', '.join(types)}: the batch was not accepted")


def _check_event_scopes(principal: Principal, body: Any) -> None:
    """Each event type needs its scope (`events:deaths`...; `events:write` covers all): 403 naming the types."""
    forbidden = forbidden_event_types(principal.scopes, event_types(body))
    if forbidden:
        raise _forbidden(forbidden)


# The errors each kind of route may answer (401, 413 and 429 come from the front door on every route).
POST_ERRORS = problem_responses(403, 409, 422, 503)


@router.post(
    "/v1/events",
    status_code=202,
    response_model=EventsAccepted,
    responses=POST_ERRORS,
    # The body is documented as the union of event types, but taken as bytes: a small one is parsed and
    # validated here (parse_events), a big one only in the bulk worker process, never in this one.
    openapi_extra=EVENTS_BODY,
)
async def post_events(
    request: Request,
    principal: Principal = Depends(require_any_scope(*ANY_EVENTS)),
    idempotency_key: IdemKey = None,
) -> Any:
    """Each event's `source` is the key's (issued with `--source`, else its name), whatever the body says."""
    raw = await request.body()
    if len(raw) > WORKER_BODY_BYTES:
        return await _post_big_batch(request, raw, principal, idempotency_key)
    with _invalid_is_422():
        body = decode_body(raw)
    _check_event_scopes(principal, body)
    async with idempotent(request, principal, idempotency_key, body) as slot:
        if slot.replay:
            return slot.replay
        with _invalid_is_422():
            events = parse_events(body, source=principal.source)
        await _publish(request, PARTICIPANT_EVENTS.name, events)
        slot.response = EventsAccepted(accepted=len(events), event_ids=[e.event_id for e in events])
        return slot.response


async def _post_big_batch(request: Request, raw: bytes, principal: Principal, idempotency_key: str | None) -> Any:
    """Thousands of events: decoded, checked, validated, fingerprinted and published by the bulk worker
    process, so this one only moves bytes and keeps answering hospitals meanwhile (services.intake.bulk).
    A batch with an error is refused whole, before the key is claimed; it is published (one Kafka
    transaction, the request's correlation id and trace context on each record) once the key is ours."""
    bulk = request.app.state.bulk
    with _unavailable_is_503():
        try:
            batch = await bulk.prepare(raw, bool(idempotency_key), principal.source, principal.scopes)
        except BatchForbidden as exc:
            raise _forbidden(exc.event_types)
    published = False
    try:
        async with idempotent(request, principal, idempotency_key, digest=batch.digest) as slot:
            if slot.replay:
                return slot.replay
            topic = request.app.state.publisher.address(PARTICIPANT_EVENTS.name)
            with _unavailable_is_503():
                await bulk.publish(batch, topic, wire_headers(context_headers()))
            published = True
            PUBLISHED.labels(PARTICIPANT_EVENTS.name).inc(len(batch.event_ids))
            slot.response = {"accepted": len(batch.event_ids), "event_ids": batch.event_ids}
            return JSONResponse(slot.response, status_code=202)
    finally:
        if not published:
            await bulk.drop(batch)


async def _accept_request(
    request: Request,
    principal: Principal,
    nik: str,
    path: ReactivationPath,
    channel: Channel,
    phone: str | None,
    documents: Documents,
    admitted_at: dt.datetime | None = None,
    idempotency_key: str | None = None,
) -> RequestAccepted:
    request_id = request_id_for(principal.key_id, idempotency_key)
    letter = documents.hospital_letter
    emergency = path is ReactivationPath.EMERGENCY
    # The read model row first: a decision may come back before this handler returns.
    received_at, created, registered = await _received(request, request_id, nik, path, letter, emergency)
    # A retry (same Idempotency-Key) after a 503 or a crash finds the row there and publishes the very
    # same event (same id, same receipt): consumers ignore it if the first attempt reached Kafka after all.
    event = ReactivationRequested(
        event_id=uuid.uuid5(request_id, "requested"),
        occurred_at=received_at,
        source=f"intake:{principal.key_id}",
        nik=nik,
        request_id=request_id,
        path=path,
        channel=channel,
        phone=phone,
        documents=documents,
        received_at=received_at,
        admitted_at=admitted_at,
        sla_deadline=received_at + SLA if emergency else None,
        facility_registered=registered,
    )
    topic = (EMERGENCY_REQUESTS if emergency else REACTIVATION_REQUESTS).name
    with _unavailable_is_503():
        try:
            await request.app.state.publisher.publish(topic, [event])
        except BrokerUnavailable as exc:
            # Not accepted (503). Kafka refused it: the request must not show up as RECEIVED (unless an
            # earlier attempt was). Kafka may have it (sent, not acknowledged): the row stays for its decision.
            if created and not isinstance(exc, PublishOutcomeUnknown):
                await _forget(request, request_id)
            raise
    # One line per accepted request: with the correlation id (bound by the middleware), operators can follow it.
    log.info(
        "request_accepted",
        request_id=str(request_id),
        path=path.value,
        nik=mask_nik(nik),
        facility=letter.facility_code if letter else None,
    )
    return RequestAccepted(request_id=request_id, sla_deadline=event.sla_deadline)


async def _received(
    request: Request,
    request_id: uuid.UUID,
    nik: str,
    path: ReactivationPath,
    letter: HospitalLetter | None,
    emergency: bool,
) -> tuple[dt.datetime, bool, bool | None]:
    """One statement: the RECEIVED row inserted unless it is there already, the row's receipt (an
    earlier attempt's, on a retry), whether this call created it, and whether the letter's facility is
    registered (None without a letter)."""
    view, now = RequestView.__table__, _now()
    row = (
        insert(view)
        .values(
            request_id=request_id,
            nik=nik,
            path=path.value,
            facility_code=letter.facility_code if letter else None,
            received_at=now,
            sla_deadline=now + SLA if emergency else None,
            sla_state="OK" if emergency else None,
            status="RECEIVED",
            reasons=[],
        )
        .on_conflict_do_nothing()
        .returning(view.c.received_at)
        .cte("inserted")
    )
    facilities = Facility.__table__
    registered = exists().where(facilities.c.code == letter.facility_code) if letter is not None else literal(None)
    earlier = select(view.c.received_at).where(view.c.request_id == request_id).scalar_subquery()
    created = select(row.c.received_at).scalar_subquery()
    async with request.app.state.sessions() as session, session.begin():
        received_at, earlier_at, known = (
            await session.execute(select(created, earlier, registered.label("registered")))
        ).one()
    return received_at or earlier_at, received_at is not None, known


async def _forget(request: Request, request_id: uuid.UUID) -> None:
    """The row of a request Kafka refused, unless a decision reached it meanwhile."""
    view = RequestView.__table__
    async with request.app.state.sessions() as session, session.begin():
        await session.execute(
            delete(view).where(
                view.c.request_id == request_id, view.c.status == "RECEIVED", view.c.last_event_at.is_(None)
            )
        )


def _check_request_scope(principal: Principal, body: ReactivationBody) -> None:
    """EMERGENCY skips the desil and biometric checks: only a hospital key bound to the letter's
    facility may ask for it (as on the hospital endpoint); the other paths need reactivations:write."""
    if body.path is not ReactivationPath.EMERGENCY:
        if "reactivations:write" not in principal.scopes:
            raise HTTPException(403, "this key lacks the scope reactivations:write")
        return
    if "emergency:write" not in principal.scopes:
        raise HTTPException(403, "path EMERGENCY needs a hospital key (scope emergency:write)")
    letter = body.documents.hospital_letter
    if letter is None:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "documents", "hospital_letter"),
                    "msg": "path EMERGENCY needs the hospital letter",
                    "type": "missing",
                }
            ]
        )
    if letter.facility_code not in principal.facility_codes:
        raise HTTPException(403, f"this key may not post for facility {letter.facility_code}")


@router.post(
    "/v1/reactivations",
    status_code=202,
    response_model=RequestAccepted,
    response_model_exclude_none=True,
    responses=POST_ERRORS,
)
async def post_reactivation(
    request: Request,
    body: ReactivationBody,
    principal: Principal = Depends(require_any_scope("reactivations:write", "emergency:write")),
    idempotency_key: IdemKey = None,
) -> Any:
    _check_request_scope(principal, body)
    raw = body.model_dump(mode="json")
    async with idempotent(request, principal, idempotency_key, raw) as slot:
        if slot.replay:
            return slot.replay
        slot.response = await _accept_request(
            request,
            principal,
            body.nik,
            body.path,
            body.channel,
            body.phone,
            body.documents,
            idempotency_key=idempotency_key,
        )
        return slot.response


@router.post(
    "/v1/hospital/emergency-reactivations", status_code=202, response_model=RequestAccepted, responses=POST_ERRORS
)
async def post_emergency(
    request: Request,
    body: EmergencyBody,
    principal: Principal = Depends(require_any_scope("emergency:write")),
    idempotency_key: IdemKey = None,
) -> Any:
    if body.facility_code not in principal.facility_codes:
        raise HTTPException(403, f"this key may not post for facility {body.facility_code}")
    raw = body.model_dump(mode="json")
    async with idempotent(request, principal, idempotency_key, raw) as slot:
        if slot.replay:
            return slot.replay
        documents = Documents(
            hospital_letter=HospitalLetter(
                facility_code=body.facility_code, letter_no=body.letter_no, issued_on=body.admitted_at.date()
            )
        )
        slot.response = await _accept_request(
            request,
            principal,
            body.nik,
            ReactivationPath.EMERGENCY,
            Channel.HOSPITAL,
            body.phone,
            documents,
            body.admitted_at,
            idempotency_key,
        )
        return slot.response


@router.get(
    "/v1/reactivations/{request_id}", response_model=ReactivationStatus, responses=problem_responses(403, 404, 422)
)
async def get_reactivation(
    request: Request,
    request_id: uuid.UUID,
    principal: Principal = Depends(require_any_scope("reactivations:write", "participants:read", "emergency:write")),
) -> dict[str, Any]:
    async with request.app.state.sessions() as session:
        row = (
            await session.execute(select(RequestView).where(RequestView.request_id == request_id))
        ).scalar_one_or_none()
    if row is None:
        raise HTTPException(404, "no request with this id")
    if (
        not principal.scopes & {"reactivations:write", "participants:read"}
        and row.facility_code not in principal.facility_codes
    ):
        raise HTTPException(403, "this key may only read its own facility's requests")
    result: dict[str, Any] = {
        "request_id": row.request_id,
        "status": row.status,
        "path": row.path,
        "reasons": row.reasons,
        "received_at": row.received_at,
        "decided_at": row.decided_at,
    }
    if row.sla_deadline is not None:
        result["sla_deadline"] = row.sla_deadline
        # A decided request's clock stopped at its decision: approved after the deadline is BREACHED.
        result["sla_state"] = sla_state(
            row.status, row.sla_state, row.sla_deadline, SLA_WARNING, row.received_at, _now(), row.decided_at
        )
    return result

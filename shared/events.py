"""Every event on the wire, as versioned pydantic models (JSON on Kafka, keyed by NIK).

Participant facts are the public contract of POST /v1/events; the rest are internal
events between services. Each model names its `type`; unions are discriminated on it.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from shared.enums import (
    AppealStatus,
    Channel,
    DeactivationReason,
    DecisionReason,
    DeliveryState,
    FollowUp,
    Funding,
    NotificationChannel,
    Outcome,
    ParticipantStatus,
    ReactivationPath,
    SlaState,
)
from shared.nik import Nik
from shared.phone import Phone, PhoneError, PhoneStatus, classify_phone, normalize_phone

Text = Annotated[str, Field(min_length=1, max_length=200)]
SOURCE_REASON_MAX = 64  # a longer "code" is kept cut to this length (the fact matters more than the text)
SourceReason = Annotated[str, Field(min_length=1, max_length=SOURCE_REASON_MAX)]
Desil = Annotated[int, Field(ge=1, le=10, strict=True)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Event(Model):
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    source: Annotated[str, Field(min_length=1, max_length=64)]
    nik: Nik

    def kafka_key(self) -> bytes:
        return self.nik.encode()


class Region(Model):
    province: Text
    regency: Text
    district: Text


# --- participant facts (public: POST /v1/events) -------------------------------------------


class ParticipantDeactivated(Event):
    """A deactivation is a fact: an unknown reason code or an unusable contact number never refuses it
    (DOMAIN.md, "Facts arrive from several sources"). What a source sends is validated through
    `validate_as_sent`, which sorts such inputs out (`kept_fact`); the model itself has no validator of its
    own, so that every consumer decodes a record straight from its JSON (decode_record)."""

    type: Literal["participant.deactivated"] = "participant.deactivated"
    deactivated_on: dt.date
    reason: DeactivationReason
    funding: Funding | None = None
    name: Text | None = None
    phone: Phone | None = None  # a mobile only: the one number anything may message
    region: Region | None = None
    # The source's own code when it was not one of ours (reason is then OTHER) or not spelled as ours.
    source_reason: SourceReason | None = None
    # Set when the source sent a contact number that cannot be messaged (phone is then None).
    phone_status: PhoneStatus | None = None
    # A landline (E.164) kept for people to call; never messaged.
    unusable_phone: Annotated[str, Field(pattern=r"^\+62\d{6,13}$")] | None = None


_DEACTIVATED = "participant.deactivated"
V = TypeVar("V")


def validate_as_sent(validate: Callable[[Any], V], data: Any) -> V:
    """`validate(data)` for what a source sent (intake's bodies, `pbi import`, a record on a topic): an unknown
    reason -> OTHER with the source's code; a landline or junk number -> dropped from `phone`, marked in
    phone_status. The data as it came is validated first: only when that fails (rarely) are a deactivation's
    reason and number looked at, sorted, and the data validated again (the fact kept, or the other fields'
    errors). `data` is one event or a list of them. Until issue 20 this was a wrap validator of the model: it
    made pydantic build every deactivation as Python objects before validating it, twice the CPU of decoding
    the JSON straight, in every consumer of a wave."""
    try:
        return validate(data)
    except ValidationError:
        kept = [kept_fact(d) for d in data] if isinstance(data, list) else [kept_fact(data)]
        if all(k is None for k in kept):
            raise
    if isinstance(data, list):
        return validate([k if k is not None else d for k, d in zip(kept, data, strict=True)])
    return validate(kept[0])


def kept_fact(data: Any) -> dict[str, Any] | None:
    """A deactivation's `data` with an odd reason or contact number sorted out; None when it has neither, or
    is not a deactivation."""
    if not isinstance(data, dict) or data.get("type", _DEACTIVATED) != _DEACTIVATED:
        return None
    reason, phone = data.get("reason"), data.get("phone")
    odd_reason = isinstance(reason, str) and reason not in _REASONS
    if not odd_reason and (phone is None or _is_mobile(phone)):
        return None
    data = dict(data)
    if odd_reason:
        data["reason"], source = _reason_from_source(str(reason))
        data["source_reason"] = source or data.get("source_reason")
    if phone is not None:
        contact = classify_phone(phone)
        data["phone"], data["phone_status"] = contact.mobile, contact.status
        data["unusable_phone"] = contact.not_mobile
    return data


_REASONS = frozenset(r.value for r in DeactivationReason)


def _is_mobile(phone: object) -> bool:
    try:  # normalize_phone remembers its answer: the field's own validation of it is then a look-up
        return isinstance(phone, str) and bool(normalize_phone(phone))
    except PhoneError:
        return False


def _reason_from_source(raw: str) -> tuple[str, str | None]:
    """(our code, the source's code to keep): case and separators do not make a known code unknown;
    an empty code is left to fail validation (the reason is required)."""
    code = raw.strip()
    if not code:
        return raw, None
    canonical = re.sub(r"[\s\-]+", "_", code).upper()
    if canonical in _REASONS:
        return canonical, (code if code != canonical else None)
    return DeactivationReason.OTHER.value, code[:SOURCE_REASON_MAX]


class DesilUpdated(Event):
    type: Literal["participant.desil_updated"] = "participant.desil_updated"
    desil: Desil
    effective_on: dt.date


class BiometricRecorded(Event):
    type: Literal["participant.biometric_recorded"] = "participant.biometric_recorded"
    recorded_on: dt.date


class DeathReported(Event):
    type: Literal["participant.death_reported"] = "participant.death_reported"
    died_on: dt.date


class NikConflictReported(Event):
    type: Literal["participant.nik_conflict_reported"] = "participant.nik_conflict_reported"


class NikConflictResolved(Event):
    type: Literal["participant.nik_conflict_resolved"] = "participant.nik_conflict_resolved"


class IdSemestaAssigned(Event):
    type: Literal["participant.id_semesta_assigned"] = "participant.id_semesta_assigned"
    id_semesta: Annotated[str, Field(min_length=1, max_length=64)]


ParticipantEvent = Annotated[
    ParticipantDeactivated
    | DesilUpdated
    | BiometricRecorded
    | DeathReported
    | NikConflictReported
    | NikConflictResolved
    | IdSemestaAssigned,
    Field(discriminator="type"),
]
PARTICIPANT_EVENT_TYPES = (
    "participant.deactivated",
    "participant.desil_updated",
    "participant.biometric_recorded",
    "participant.death_reported",
    "participant.nik_conflict_reported",
    "participant.nik_conflict_resolved",
    "participant.id_semesta_assigned",
)


# --- reactivation requests (intake -> eligibility) -----------------------------------------


class HospitalLetter(Model):
    facility_code: Annotated[str, Field(min_length=1, max_length=32)]
    letter_no: Annotated[str, Field(min_length=1, max_length=64)]
    issued_on: dt.date | None = None


class DoctorLetter(Model):
    register_no: Annotated[str, Field(min_length=1, max_length=64)]
    diagnosis_icd10: Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")] | None = None


class VillageLetter(Model):
    letter_no: Annotated[str, Field(min_length=1, max_length=64)]
    desil: Desil


class Documents(Model):
    hospital_letter: HospitalLetter | None = None
    doctor_letter: DoctorLetter | None = None
    village_letter: VillageLetter | None = None


class ReactivationRequested(Event):
    """A request as intake accepted it. Emergency ones travel on their own topic."""

    type: Literal["reactivation.requested"] = "reactivation.requested"
    request_id: uuid.UUID
    path: ReactivationPath
    channel: Channel
    phone: Phone | None = None
    documents: Documents = Documents()
    received_at: AwareDatetime
    admitted_at: AwareDatetime | None = None
    sla_deadline: AwareDatetime | None = None
    # Set by intake from its facility registry; eligibility rejects FACILITY_UNKNOWN when False.
    facility_registered: bool | None = None


# --- appeals (intake, notifier's WhatsApp BANDING -> eligibility; eligibility -> everyone) -------

AppealText = Annotated[str, Field(min_length=1, max_length=1000)]
# A request's reference as a person types it (shared.appeals.request_reference: 8 hex digits), or the id.
RequestRef = Annotated[str, Field(pattern=r"^[0-9A-Fa-f-]{6,36}$")]


class AppealRequested(Event):
    """A rejected person appeals (POST /v1/appeals, or `BANDING <reference>` on WhatsApp from the number
    on file, published by the notifier). Eligibility opens it when the request was rejected and has no
    appeal yet (one appeal per decision), else refuses it (AppealUpdated REFUSED)."""

    type: Literal["appeal.requested"] = "appeal.requested"
    appeal_id: uuid.UUID  # WhatsApp: shared.appeals.appeal_id_for_message(inbound message id)
    request_id: uuid.UUID | None = None  # intake: the request appealed
    request_ref: RequestRef | None = None  # WhatsApp: the reference as typed, resolved among the NIK's requests
    grounds: AppealText | None = None
    documents: Documents = Documents()
    channel: Channel
    phone: Phone | None = None
    received_at: AwareDatetime
    due_at: AwareDatetime | None = None  # intake's answer to the caller; absent: eligibility's policy

    @model_validator(mode="after")
    def _names_a_request(self) -> AppealRequested:
        if self.request_id is None and self.request_ref is None:
            raise ValueError("an appeal names request_id or request_ref")
        return self


class AppealReviewed(Event):
    """An operator's decision on an open appeal (POST /v1/appeals/{id}/decision): only DISMISSED; an
    appeal is upheld by the rules alone, once the missing fact is recorded."""

    type: Literal["appeal.reviewed"] = "appeal.reviewed"
    appeal_id: uuid.UUID
    status: Literal[AppealStatus.DISMISSED] = AppealStatus.DISMISSED
    reviewer: Annotated[str, Field(min_length=1, max_length=64)]  # the API key id
    note: AppealText | None = None


class AppealUpdated(Event):
    """Eligibility's word on an appeal: OPEN (waiting: on the worklist as APPEAL_REVIEW until due_at),
    UPHELD (the request's APPROVED decision is published with it), DISMISSED, or REFUSED (never opened;
    `reasons` holds the AppealRefusal). `reasons` otherwise: the decision reasons still failing."""

    type: Literal["appeal.updated"] = "appeal.updated"
    appeal_id: uuid.UUID
    request_id: uuid.UUID | None = None
    status: AppealStatus
    reasons: list[Annotated[str, Field(max_length=32)]] = []
    channel: Channel
    received_at: AwareDatetime
    due_at: AwareDatetime | None = None
    decided_at: AwareDatetime | None = None
    phone: Phone | None = None
    note: AppealText | None = None


# --- decisions and timers (eligibility -> registry, intake, notifier) ----------------------


class ReactivationDecided(Event):
    type: Literal["reactivation.decided"] = "reactivation.decided"
    decision_id: uuid.UUID
    request_id: uuid.UUID
    path: ReactivationPath
    channel: Channel
    outcome: Outcome
    reasons: list[DecisionReason] = []
    follow_ups: list[FollowUp] = []
    policy_version: str
    received_at: AwareDatetime
    decided_at: AwareDatetime
    sla_deadline: AwareDatetime | None = None
    window_closes_at: AwareDatetime | None = None
    phone: Phone | None = None
    # Set when an upheld appeal reactivates the request (the notifier words the message as the appeal's).
    appeal_id: uuid.UUID | None = None


class EmergencySlaChanged(Event):
    type: Literal["emergency.sla_changed"] = "emergency.sla_changed"
    request_id: uuid.UUID
    sla_state: SlaState
    sla_deadline: AwareDatetime
    received_at: AwareDatetime
    facility_code: str | None = None


class WindowReminderDue(Event):
    type: Literal["participant.window_reminder_due"] = "participant.window_reminder_due"
    window_closes_at: AwareDatetime
    days_left: int
    phone: Phone | None = None


# --- registry -> downstream systems (no service of ours reads it) ----------------------------


class ParticipantStatusChanged(Event):
    type: Literal["participant.status_changed"] = "participant.status_changed"
    previous_status: ParticipantStatus | None
    status: ParticipantStatus
    cause_event_id: uuid.UUID
    cause_type: str
    reasons: list[DecisionReason] = []
    window_closes_at: AwareDatetime | None = None
    # No longer set (always None): no service of ours reads pbi.status-changes.v1, which keeps a record 30
    # days where an erasure cannot reach it. Kept optional so records written before still decode.
    phone: Phone | None = None


# --- notifier -> dashboard -----------------------------------------------------------------


class NotificationUpdated(Event):
    type: Literal["notification.updated"] = "notification.updated"
    message_id: uuid.UUID
    kind: str
    channel: NotificationChannel
    state: DeliveryState
    reason: str | None = None


# --- registry -> every service that keeps contact data (UU PDP 27/2022, CONTRACT.md "Personal data") ---


class PersonalDataErased(Event):
    """The person's name, phone numbers and message texts are to be removed in every service; decisions
    and status history stay, keyed by NIK. It carries nothing personal but the NIK (the Kafka key).
    `occurred_at` is the moment of the erasure: contact data on events from before it never comes back
    (shared.privacy)."""

    type: Literal["participant.personal_data_erased"] = "participant.personal_data_erased"
    requested_by: Annotated[str, Field(min_length=1, max_length=64)]  # an API key id, or "cli"


AnyEvent = Annotated[
    ParticipantDeactivated
    | DesilUpdated
    | BiometricRecorded
    | DeathReported
    | NikConflictReported
    | NikConflictResolved
    | IdSemestaAssigned
    | ReactivationRequested
    | ReactivationDecided
    | EmergencySlaChanged
    | WindowReminderDue
    | ParticipantStatusChanged
    | NotificationUpdated
    | AppealRequested
    | AppealReviewed
    | AppealUpdated
    | PersonalDataErased,
    Field(discriminator="type"),
]

participant_event_adapter: TypeAdapter[ParticipantEvent] = TypeAdapter(ParticipantEvent)
any_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
AppealInput = Annotated[AppealRequested | AppealReviewed, Field(discriminator="type")]
appeal_input_adapter: TypeAdapter[AppealInput] = TypeAdapter(AppealInput)
erasure_adapter: TypeAdapter[PersonalDataErased] = TypeAdapter(PersonalDataErased)


def encode(event: Event) -> bytes:
    return event.model_dump_json().encode()

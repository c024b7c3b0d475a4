"""The registry API's answers as models: what /docs and /openapi.json publish. Fields only ever get
added (CONTRACT.md), so a member these models do not name yet is passed through (extra="allow")."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.enums import DeactivationReason, ParticipantStatus


class View(BaseModel):
    model_config = ConfigDict(extra="allow")


class RegionView(View):
    province: str | None
    regency: str | None
    district: str | None


class HistoryEntry(View):
    event_id: uuid.UUID = Field(description="The event that caused the change")
    event_type: str
    occurred_at: dt.datetime
    source: str | None
    previous_status: ParticipantStatus | None
    status: ParticipantStatus
    reasons: list[str] = Field(description="Decision reason codes, when a decision caused it")


class Participant(View):
    """The whole record (scope participants:read)."""

    nik: str
    status: ParticipantStatus
    deactivation_reason: DeactivationReason | None
    deactivated_on: dt.date | None
    window_closes_at: dt.datetime | None = Field(description="23:59:59 in the participant's own time zone")
    desil: int | None
    biometric_recorded: bool | None
    id_semesta: str | None
    deceased: bool | None
    nik_conflict_open: bool | None
    region: RegionView
    history: list[HistoryEntry] = Field(description="Every change, oldest first")


class MaskedHistoryEntry(View):
    occurred_at: dt.datetime
    previous_status: ParticipantStatus | None
    status: ParticipantStatus


class MaskedParticipant(View):
    """What a dashboard key (dashboard:read) sees: masked NIK, status and when it changed."""

    nik: str = Field(description="Masked")
    status: ParticipantStatus
    deactivated_on: dt.date | None
    window_closes_at: dt.datetime | None
    region: RegionView
    history: list[MaskedHistoryEntry]
    masked: Literal[True] = True


class RegionCount(RegionView):
    count: int


class RequestTotals(View):
    total: int
    decided: int


class SlaBoard(View):
    """The emergency SLA board (shared.sla.sla_counts)."""

    open: int
    warning: int
    breached: int = Field(description="Met late included")
    met: int
    closed: int
    met_late: int


class Stats(View):
    by_status: dict[ParticipantStatus, int]
    by_deactivation_reason: dict[str, int]
    by_region: list[RegionCount]
    decisions_by_outcome: dict[str, int] = Field(description="PENDING, APPROVED, REJECTED, EXPIRED")
    decisions_by_reason: dict[str, int]
    requests: RequestTotals
    emergency_sla: SlaBoard
    notifications: dict[str, dict[str, int]] = Field(description="channel -> delivery state -> count")
    anomalies: int
    expired_at_window_close: int

"""The domain's vocabulary (DOMAIN.md, CONTRACT.md) as string enums: the wire values are the names."""

from __future__ import annotations

from enum import StrEnum


class DeactivationReason(StrEnum):
    DESIL_ABOVE_5 = "DESIL_ABOVE_5"
    NIK_CONFLICT = "NIK_CONFLICT"
    DECEASED = "DECEASED"
    NO_BIOMETRIC = "NO_BIOMETRIC"
    ADMINDUK_OFFLINE = "ADMINDUK_OFFLINE"
    NO_ID_SEMESTA = "NO_ID_SEMESTA"
    OTHER = "OTHER"


class Funding(StrEnum):
    APBN = "APBN"
    APBD = "APBD"


class ReactivationPath(StrEnum):
    REGULAR = "REGULAR"
    CHRONIC = "CHRONIC"
    EMERGENCY = "EMERGENCY"


class Channel(StrEnum):
    DINSOS = "DINSOS"
    VILLAGE = "VILLAGE"
    WHATSAPP = "WHATSAPP"
    HOSPITAL = "HOSPITAL"


class RequestStatus(StrEnum):
    RECEIVED = "RECEIVED"
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class Outcome(StrEnum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PENDING = "PENDING"
    EXPIRED = "EXPIRED"


class DecisionReason(StrEnum):
    NIK_INVALID = "NIK_INVALID"
    NOT_DEACTIVATED = "NOT_DEACTIVATED"
    ALREADY_ACTIVE = "ALREADY_ACTIVE"
    DECEASED = "DECEASED"
    NIK_CONFLICT = "NIK_CONFLICT"
    WINDOW_EXPIRED = "WINDOW_EXPIRED"
    DESIL_ABOVE_5 = "DESIL_ABOVE_5"
    DESIL_UNKNOWN = "DESIL_UNKNOWN"
    BIOMETRIC_MISSING = "BIOMETRIC_MISSING"
    DOCUMENT_MISSING = "DOCUMENT_MISSING"
    FACILITY_UNKNOWN = "FACILITY_UNKNOWN"


class FollowUp(StrEnum):
    """Work for operations after a decision (e.g. emergency approved despite desil 7)."""

    DESIL_REVERIFICATION = "DESIL_REVERIFICATION"
    BIOMETRIC_RECORDING = "BIOMETRIC_RECORDING"
    SIKS_NG_ENTRY = "SIKS_NG_ENTRY"


class ParticipantStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    REACTIVATION_PENDING = "REACTIVATION_PENDING"
    EXPIRED = "EXPIRED"


class SlaState(StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    BREACHED = "BREACHED"
    MET = "MET"
    CLOSED = "CLOSED"  # rejected or expired: off the board, never WARNING/BREACHED afterwards


class WorklistKind(StrEnum):
    """What operations must do by hand (CONTRACT.md, operations worklist)."""

    DESIL_REVERIFICATION = "DESIL_REVERIFICATION"
    BIOMETRIC_RECORDING = "BIOMETRIC_RECORDING"
    SIKS_NG_ENTRY = "SIKS_NG_ENTRY"
    EMERGENCY_HELD = "EMERGENCY_HELD"
    SLA_BREACHED = "SLA_BREACHED"
    APPEAL_REVIEW = "APPEAL_REVIEW"


class AppealStatus(StrEnum):
    """An appeal of a rejection (CONTRACT.md, Appeals). REFUSED: never opened (see AppealRefusal);
    intake shows it as DISMISSED with the refusal as its reason."""

    OPEN = "OPEN"
    UPHELD = "UPHELD"
    DISMISSED = "DISMISSED"
    REFUSED = "REFUSED"


class AppealRefusal(StrEnum):
    """Why an appeal was not opened."""

    NOT_REJECTED = "NOT_REJECTED"  # the request was not (or is no longer) rejected
    ALREADY_APPEALED = "ALREADY_APPEALED"  # one appeal per decision
    UNKNOWN_REQUEST = "UNKNOWN_REQUEST"  # no such request for this NIK (a mistyped WhatsApp reference)


class WorklistState(StrEnum):
    OPEN = "OPEN"
    DONE = "DONE"


class NotificationChannel(StrEnum):
    WHATSAPP = "WHATSAPP"
    SMS = "SMS"
    WEBHOOK = "WEBHOOK"  # an operations system's endpoint (emergency escalations)


class DeliveryState(StrEnum):
    QUEUED = "QUEUED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    FAILED = "FAILED"

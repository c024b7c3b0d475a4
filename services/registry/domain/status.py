"""Participant status transitions (ACTIVE, INACTIVE, REACTIVATION_PENDING, EXPIRED) as a pure function.

`apply(participant, event)` returns the new participant, the history entry to append (or None)
and an anomaly (or None). Events that do not fit (approval for an unknown NIK, approval of a
deceased person, a stale event) become anomalies: recorded and counted, never raised.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from shared.enums import DeactivationReason, DecisionReason, Outcome, ParticipantStatus
from shared.events import (
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    Event,
    IdSemestaAssigned,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
    ReactivationDecided,
)
from shared.timezones import zone_for_nik
from shared.window import reactivation_window_closes_at

# The same rule eligibility decides with (DOMAIN.md): N calendar months after deactivation, clamped to
# the month's last day, 23:59:59 local time of the NIK's province (shared.window, pure).
window_closes_at = reactivation_window_closes_at

S = ParticipantStatus


@dataclass(frozen=True)
class Participant:
    nik: str
    status: ParticipantStatus
    province: str
    regency: str
    district: str
    deactivation_reason: str | None = None
    deactivated_on: dt.date | None = None
    window_closes_at: dt.datetime | None = None
    desil: int | None = None
    biometric_recorded: bool = False
    id_semesta: str | None = None
    deceased: bool = False
    nik_conflict_open: bool = False
    phone: str | None = None
    last_status_event_at: dt.datetime | None = None


@dataclass(frozen=True)
class HistoryEntry:
    event_id: uuid.UUID
    event_type: str
    occurred_at: dt.datetime
    source: str
    previous_status: ParticipantStatus | None
    status: ParticipantStatus
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Anomaly:
    kind: str
    detail: str


@dataclass(frozen=True)
class Applied:
    participant: Participant | None
    history: HistoryEntry | None = None
    anomaly: Anomaly | None = None

    @property
    def status_changed(self) -> bool:
        return self.history is not None and self.history.previous_status != self.history.status


Region = tuple[str, str, str]
_FIELDS = frozenset(Participant.__dataclass_fields__)
_new = object.__new__


def replace(p: Participant, **changes: Any) -> Participant:
    """`dataclasses.replace`, without its introspection of the fields at every call (a third of the time a
    wave's batch spent applying deactivations and decisions), nor the frozen constructor's object.__setattr__
    per field: the copy's __dict__ is the original's with the changes (fields only), in the same order."""
    if not changes.keys() <= _FIELDS:
        raise TypeError(f"not fields of Participant: {sorted(changes.keys() - _FIELDS)}")
    new = _new(Participant)
    state = new.__dict__
    state.update(p.__dict__)
    state.update(changes)
    return new


def _entry(event: Event, before: ParticipantStatus | None, after: ParticipantStatus, reasons=()) -> HistoryEntry:  # type: ignore[no-untyped-def]
    return HistoryEntry(
        event.event_id,
        getattr(event, "type", ""),
        event.occurred_at,
        event.source,
        before,
        after,
        tuple(map(str, reasons)),
    )


def apply(p: Participant | None, event: Event, region: Region, window_months: int = 6) -> Applied:
    kind = getattr(event, "type", "")  # not isinstance: a pydantic class's check goes through ABCMeta, in Python
    if kind == _DEACTIVATED:
        return _deactivated(p, event, region, window_months)  # type: ignore[arg-type]
    if kind == _DECIDED:
        return _decided(p, event, region)  # type: ignore[arg-type]
    return _fact(p, event, region)


_DEACTIVATED = ParticipantDeactivated.model_fields["type"].default
_DECIDED = ReactivationDecided.model_fields["type"].default


def _stale(p: Participant, event: Event) -> bool:
    return p.last_status_event_at is not None and event.occurred_at < p.last_status_event_at


def _deactivated(p: Participant | None, e: ParticipantDeactivated, region: Region, months: int) -> Applied:
    # Facts arrive late and twice (DOMAIN.md): a deactivation is judged by its date, not its arrival.
    if p is not None and p.deactivated_on is not None:
        if e.deactivated_on == p.deactivated_on:
            # The same deactivation again (another source, a resend, after a reactivation): nothing changes.
            return Applied(p)
        if e.deactivated_on < p.deactivated_on:
            # An older deactivation arriving after a newer one never moves the window back.
            return Applied(
                p, anomaly=Anomaly("STALE_EVENT", f"deactivation of {e.deactivated_on} older than {p.deactivated_on}")
            )
    if p is not None and _stale(p, e):
        # A deactivation (the first one seen, or a newer one) older than the status the decisions already
        # set: eligibility decided with it, so it fills in reason, date and window; the newer status stays.
        late = replace(
            _with_deactivation(p, e, region, months),
            status=p.status,
            last_status_event_at=p.last_status_event_at,
        )
        return Applied(late, _entry(e, p.status, p.status, [e.reason]))
    new = _with_deactivation(p or Participant(e.nik, S.INACTIVE, *region), e, region, months)
    return Applied(new, _entry(e, p.status if p else None, S.INACTIVE, [e.reason]))


def _with_deactivation(base: Participant, e: ParticipantDeactivated, region: Region, months: int) -> Participant:
    where = e.region
    return Participant(  # every field, as a replace() of `base` would (one constructor call per deactivation)
        nik=base.nik,
        status=S.INACTIVE,
        province=where.province if where else base.province,
        regency=where.regency if where else base.regency,
        district=where.district if where else base.district,
        deactivation_reason=str(e.reason),  # the plain value (an enum's .value is a slow property)
        deactivated_on=e.deactivated_on,
        window_closes_at=window_closes_at(e.deactivated_on, e.nik, months),
        desil=base.desil,
        biometric_recorded=base.biometric_recorded,
        id_semesta=base.id_semesta,
        deceased=base.deceased or e.reason == DeactivationReason.DECEASED,
        nik_conflict_open=base.nik_conflict_open,
        phone=e.phone or base.phone,
        last_status_event_at=e.occurred_at,
    )


def _decided(p: Participant | None, e: ReactivationDecided, region: Region) -> Applied:
    if p is None:
        if e.outcome in (Outcome.REJECTED, Outcome.PENDING) and _NOBODY_TO_MIRROR & set(e.reasons):
            # NOT_DEACTIVATED / NIK_INVALID: eligibility agrees there is nobody to mirror (PENDING: not
            # yet; eligibility waits a grace period in case the deactivation is still on its way).
            return Applied(None)
        # Eligibility decided, so it saw a deactivation the registry has not (yet): the decision is
        # applied as if to an inactive participant, and the anomaly stays visible until explained;
        # a late deactivation fills in its details without moving the status back.
        first = _target(S.INACTIVE, e) or S.INACTIVE
        kind = "APPROVAL_FOR_UNKNOWN_NIK" if e.outcome is Outcome.APPROVED else "DECISION_FOR_UNKNOWN_NIK"
        return Applied(
            Participant(
                e.nik,
                first,
                *region,
                phone=e.phone,
                window_closes_at=e.window_closes_at,
                last_status_event_at=e.occurred_at,
            ),
            _entry(e, None, first, e.reasons),
            Anomaly(kind, f"{e.outcome} for request {e.request_id} before any deactivation was seen"),
        )
    if e.outcome is Outcome.APPROVED and p.deceased:
        return Applied(p, anomaly=Anomaly("APPROVAL_FOR_DECEASED", f"request {e.request_id}"))
    if e.outcome is Outcome.APPROVED and p.status is S.EXPIRED:
        if not received_in_window(p, e):
            return Applied(p, anomaly=Anomaly("APPROVAL_AFTER_EXPIRY", f"request {e.request_id}"))
        # Lateness is judged at receipt: an approval of a request received while the window was open
        # undoes the expiry at window close, even when it arrives after it (registry lag).
        last = max(e.occurred_at, p.last_status_event_at or e.occurred_at)
        return Applied(replace(p, status=S.ACTIVE, last_status_event_at=last), _entry(e, p.status, S.ACTIVE))
    if _stale(p, e):
        return Applied(p, anomaly=Anomaly("STALE_EVENT", f"decision {e.outcome} older than current state"))
    target = _target(p.status, e)
    if target is None:
        return Applied(p, anomaly=Anomaly("UNEXPECTED_DECISION", f"{e.outcome} while {p.status}"))
    return Applied(
        replace(p, status=target, last_status_event_at=e.occurred_at), _entry(e, p.status, target, e.reasons)
    )


_NOBODY_TO_MIRROR = {DecisionReason.NOT_DEACTIVATED, DecisionReason.NIK_INVALID}


def received_in_window(p: Participant, e: ReactivationDecided) -> bool:
    """The request was received during the current deactivation's window (not an earlier cycle's)."""
    if p.window_closes_at is None or e.received_at > p.window_closes_at:
        return False
    return p.deactivated_on is None or e.received_at.astimezone(zone_for_nik(p.nik)).date() >= p.deactivated_on


def _target(current: ParticipantStatus, e: ReactivationDecided) -> ParticipantStatus | None:
    expired = e.outcome is Outcome.EXPIRED or DecisionReason.WINDOW_EXPIRED in e.reasons
    if e.outcome is Outcome.APPROVED:
        return S.ACTIVE
    if current is S.ACTIVE:
        return S.ACTIVE if e.outcome is Outcome.REJECTED else None  # e.g. ALREADY_ACTIVE: stays active
    if expired:
        return S.EXPIRED
    if current is S.EXPIRED:
        return S.EXPIRED if e.outcome is Outcome.REJECTED else None  # PENDING after expiry does not fit
    if e.outcome is Outcome.PENDING:
        return S.REACTIVATION_PENDING
    return S.INACTIVE if current is S.REACTIVATION_PENDING or current is S.INACTIVE else current


def _fact(p: Participant | None, e: Event, region: Region) -> Applied:
    # Facts about someone never deactivated: they are heard of, and (as far as we know) active.
    base = p or Participant(e.nik, S.ACTIVE, *region)
    match e:
        case DesilUpdated():
            new = replace(base, desil=e.desil)
        case BiometricRecorded():
            new = replace(base, biometric_recorded=True)
        case DeathReported():
            new = replace(base, deceased=True)
        case IdSemestaAssigned():
            new = replace(base, id_semesta=e.id_semesta)
        case NikConflictReported():
            new = replace(base, nik_conflict_open=True)
        case NikConflictResolved():
            new = replace(base, nik_conflict_open=False)
        case _:
            return Applied(p, anomaly=Anomaly("UNHANDLED_EVENT", getattr(e, "type", "?")))
    return Applied(new, _entry(e, p.status if p else None, new.status))


# --- window close ---------------------------------------------------------------------------------
# DOMAIN.md: when a window closes, whoever never got back in becomes EXPIRED, whether or not they asked.
WINDOW_CLOSED = "registry.window_closed"
STILL_OUT = (S.INACTIVE, S.REACTIVATION_PENDING)
_WINDOW_NAMESPACE = uuid.UUID("0b7c9f1e-6a53-4f0e-8e0c-3f9a1d2b7c44")


def window_closed_event_id(nik: str, closes_at: dt.datetime) -> uuid.UUID:
    """The expiry at one window's close always has the same id: a sweep run twice (or by two replicas)
    writes one history row."""
    return uuid.uuid5(_WINDOW_NAMESPACE, f"{nik}:{closes_at.astimezone(dt.UTC).isoformat()}")


def window_closed(p: Participant, now: dt.datetime) -> Applied:
    """The participant once `now` is past their window's close: EXPIRED if still out, else unchanged.
    Stamped at the close itself, not at the sweep's time, so a sweep that runs late changes nothing."""
    closes = p.window_closes_at
    if p.status not in STILL_OUT or closes is None or now <= closes:
        return Applied(p)
    entry = HistoryEntry(
        window_closed_event_id(p.nik, closes),
        WINDOW_CLOSED,
        closes,
        "registry",
        p.status,
        S.EXPIRED,
        (DecisionReason.WINDOW_EXPIRED.value,),
    )
    last = max(closes, p.last_status_event_at or closes)
    return Applied(replace(p, status=S.EXPIRED, last_status_event_at=last), entry)

"""decide(): every reason that applies, the outcome they add up to, and the follow-ups.

Hard reasons reject; soft reasons are facts that can still arrive (a DTSEN re-ranking, a
biometric recording, a resolved NIK conflict) and keep the request PENDING until they do or
the window closes (then EXPIRED, decided by the timer). Emergencies are never held back by
desil or biometric: those become follow-ups for operations.

Two instants matter: `request.received_at` decides whether the request came in time (a late
request is REJECTED with WINDOW_EXPIRED: the person must apply as a new participant), and `now`,
the moment of deciding: a request that came in time but is (re-)evaluated after its window has
closed without having been approved is EXPIRED, whatever facts have arrived since.

A request for someone with no deactivation on record is not rejected at once: requests and
participant events travel on different topics, so an emergency can overtake the deactivation it
answers. For the policy's grace period NOT_DEACTIVATED is soft (PENDING); the deactivation, when it
lands, re-evaluates the request, and a timer rejects it once the grace period is over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from services.eligibility.domain.policy import Policy
from services.eligibility.domain.window import reactivation_window_closes_at
from shared.enums import DecisionReason as R
from shared.enums import FollowUp, Outcome, ReactivationPath
from shared.events import Documents

SOFT = frozenset({R.DESIL_UNKNOWN, R.BIOMETRIC_MISSING, R.NIK_CONFLICT})


@dataclass(frozen=True)
class Facts:
    """What the eligibility service knows of one person, from participant events."""

    nik: str
    deactivated_on: dt.date | None = None
    desil: int | None = None
    desil_effective_on: dt.date | None = None
    biometric_recorded: bool = False
    deceased: bool = False
    nik_conflict_open: bool = False
    id_semesta: str | None = None
    reactivated: bool = False


@dataclass(frozen=True)
class Request:
    request_id: str
    nik: str
    path: ReactivationPath
    received_at: dt.datetime
    documents: Documents = field(default_factory=Documents)
    facility_registered: bool | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reasons: tuple[R, ...]
    follow_ups: tuple[FollowUp, ...]
    policy_version: str
    window_closes_at: dt.datetime | None


def rerank_desil(facts: Facts) -> int | None:
    """The desil from a re-ranking after the deactivation; the one that caused it does not count."""
    if facts.desil is None or facts.deactivated_on is None or facts.desil_effective_on is None:
        return None
    return facts.desil if facts.desil_effective_on >= facts.deactivated_on else None


def _eligibility_reasons(facts: Facts, request: Request, policy: Policy) -> list[R]:
    reasons: list[R] = []
    desil = rerank_desil(facts)
    if request.path is ReactivationPath.EMERGENCY:
        if request.documents.hospital_letter is None:
            reasons.append(R.DOCUMENT_MISSING)
        if request.facility_registered is False:
            reasons.append(R.FACILITY_UNKNOWN)
        return reasons
    if request.path is ReactivationPath.CHRONIC:
        letter = request.documents.village_letter
        if request.documents.doctor_letter is None or letter is None:
            reasons.append(R.DOCUMENT_MISSING)
        if letter is not None and letter.desil > policy.desil_cutoff:
            reasons.append(R.DESIL_ABOVE_5)
    else:
        if desil is None:
            reasons.append(R.DESIL_UNKNOWN)
        elif desil > policy.desil_cutoff:
            reasons.append(R.DESIL_ABOVE_5)
    if not facts.biometric_recorded:
        reasons.append(R.BIOMETRIC_MISSING)
    return reasons


def decide(facts: Facts, request: Request, policy: Policy, now: dt.datetime | None = None) -> Decision:
    """The decision at `now` (default: the moment of receipt)."""
    now = request.received_at if now is None else now
    reasons: list[R] = []
    closes_at = None
    if facts.deactivated_on is None:
        reasons.append(R.ALREADY_ACTIVE if facts.reactivated else R.NOT_DEACTIVATED)
    else:
        closes_at = reactivation_window_closes_at(facts.deactivated_on, facts.nik, policy)
        if facts.reactivated:
            reasons.append(R.ALREADY_ACTIVE)
        if request.received_at > closes_at:
            reasons.append(R.WINDOW_EXPIRED)
    if facts.deceased:
        reasons.append(R.DECEASED)
    if facts.nik_conflict_open:
        reasons.append(R.NIK_CONFLICT)
    if facts.deactivated_on is not None:  # with nothing to reactivate, path checks say nothing
        reasons.extend(_eligibility_reasons(facts, request, policy))

    soft = SOFT | {R.NOT_DEACTIVATED} if awaiting_deactivation(facts, request, policy, now) else SOFT
    if not reasons:
        outcome = Outcome.APPROVED
    elif all(r in soft for r in reasons):
        outcome = Outcome.PENDING
    else:
        outcome = Outcome.REJECTED
    if outcome is not Outcome.REJECTED and closes_at is not None and now > closes_at:
        return expired(facts, request, policy, closes_at)
    return Decision(outcome, tuple(reasons), _follow_ups(facts, request, policy, outcome), policy.version, closes_at)


def awaiting_deactivation(facts: Facts, request: Request, policy: Policy, now: dt.datetime) -> bool:
    """Nothing on record yet, and the deactivation may still be queued behind the request."""
    unknown = facts.deactivated_on is None and not facts.reactivated
    return unknown and now < request.received_at + policy.unknown_person_grace


def _follow_ups(facts: Facts, request: Request, policy: Policy, outcome: Outcome) -> tuple[FollowUp, ...]:
    if outcome is not Outcome.APPROVED:
        return ()
    todo: list[FollowUp] = []
    if request.path is ReactivationPath.EMERGENCY:
        desil = rerank_desil(facts)
        if desil is None or desil > policy.desil_cutoff:
            todo.append(FollowUp.DESIL_REVERIFICATION)
        if not facts.biometric_recorded:
            todo.append(FollowUp.BIOMETRIC_RECORDING)
    if not facts.id_semesta:
        # Without an ID Semesta the next automatic run deactivates them again (seed 004).
        todo.append(FollowUp.SIKS_NG_ENTRY)
    return tuple(todo)


def expired(facts: Facts, request: Request, policy: Policy, closes_at: dt.datetime) -> Decision:
    """A request that came in time but was not approved before its window closed; the reasons still
    say what was missing."""
    missing = [r for r in _eligibility_reasons(facts, request, policy) if r in SOFT]
    if facts.nik_conflict_open:
        missing.insert(0, R.NIK_CONFLICT)
    return Decision(Outcome.EXPIRED, (R.WINDOW_EXPIRED, *missing), (), policy.version, closes_at)


TICK = dt.timedelta(microseconds=1)


def decided_after(now: dt.datetime, previous: dt.datetime | None) -> dt.datetime:
    """The time stamped on a new decision for a request: strictly after the one it replaces.

    Registry and intake keep a request's newest decision by decided_at and drop an older one as
    stale. A handler that read the clock and then waited for a person's lock while another handler
    decided that person's request stamped its newer decision with an older time: the request was
    APPROVED in eligibility but stayed PENDING everywhere else. Handlers read the clock after
    taking the locks; this also holds when clocks of two replicas disagree."""
    return now if previous is None or now > previous else previous + TICK

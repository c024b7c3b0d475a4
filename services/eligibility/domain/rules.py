"""decide(): every reason that applies, the outcome they add up to, and the follow-ups.

Hard reasons reject; soft reasons are facts that can still arrive (a DTSEN re-ranking, a
biometric recording, a resolved NIK conflict) and keep the request PENDING until they do or
the window closes (then EXPIRED, by the expiry sweep). Emergencies are never held back by
desil or biometric: those become follow-ups for operations.

Lateness is judged at receipt (DOMAIN.md). `request.received_at` (intake's stamp, carried on the
request event) decides whether the request came in time; a request received in time is never
WINDOW_EXPIRED because it was decided late. `now`, the moment of deciding, matters only for what
the window rule says of a request still *waiting for a fact*: a PENDING request expires with the
window. So:
- decide() (the first decision of a request): APPROVED/REJECTED as the facts say, whenever it is
  decided; only a request that would be PENDING and is decided after the close is EXPIRED (it would
  have been pending when the window closed, and the expiry sweep would have expired it).
- redecide() (a request already on record as PENDING, decided again on a new fact or a timer): it
  was pending when the window closed, so after the close it is EXPIRED unless a hard reason
  rejects it; a fact arriving after the close does not reopen it.

A request for someone with no deactivation on record is not rejected at once: requests and
participant events travel on different topics, so an emergency can overtake the deactivation it
answers. For the policy's grace period NOT_DEACTIVATED is soft (PENDING); the deactivation, when it
lands, re-evaluates the request, and a timer rejects it once the grace period is over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

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
    # When the current reactivation was approved: a deactivation dated on or before that day is the
    # one it cured (or older), not a new cycle (facts.apply_fact).
    reactivated_at: dt.datetime | None = None
    # When this person's next window reminder is due (domain.reminders); None: none to come.
    next_reminder_at: dt.datetime | None = None

    def __eq__(self, other: object) -> bool:
        """The generated __eq__, compared as the instances' dicts (the fields, nothing else: `but`, `of_row`) in C:
        the generated one builds two tuples of eleven in Python, and every batch compares each person's facts
        before and after (6% of eligibility's bulk process in a wave; the dataclass still hashes by the fields)."""
        if other.__class__ is not Facts:
            return NotImplemented
        return self.__dict__ == other.__dict__  # type: ignore[no-any-return]

    def but(self, **changes: object) -> Facts:
        """These facts with `changes` (field names): what dataclasses.replace gives, at a quarter of its
        cost (it checks every field and calls the frozen __setattr__ once per field; a wave folds millions
        of facts, a batch of decisions reactivates hundreds). Unknown names raise, as replace's do."""
        if not changes.keys() <= _FACT_NAMES:
            raise TypeError(f"Facts has no field {sorted(changes.keys() - _FACT_NAMES)}")
        new = object.__new__(Facts)
        values = new.__dict__  # a frozen instance's own dict: no __setattr__ involved
        values.update(self.__dict__)
        values.update(changes)
        return new

    @staticmethod
    def of_row(row: Sequence[object]) -> Facts:
        """Facts(*row) (a row of the fields in order, as the store reads them), without the frozen
        __init__'s __setattr__ per field: the people of every batch are read so."""
        new = object.__new__(Facts)
        new.__dict__.update(zip(FACT_NAMES, row, strict=True))
        return new


FACT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Facts))  # in order, as the store reads them
_FACT_NAMES = frozenset(FACT_NAMES)


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
    """The desil from a re-ranking dated after the deactivation; the one effective on the deactivation
    date is the ranking that caused it, so it does not count (DESIL_UNKNOWN, not DESIL_ABOVE_5)."""
    if facts.desil is None or facts.deactivated_on is None or facts.desil_effective_on is None:
        return None
    return facts.desil if facts.desil_effective_on > facts.deactivated_on else None


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
    """The first decision of a request, made at `now` (default: the moment of receipt)."""
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
    if outcome is Outcome.PENDING and closes_at is not None and now > closes_at:
        return expired(facts, request, policy, closes_at)  # it would have been waiting at the close
    return Decision(outcome, tuple(reasons), _follow_ups(facts, request, policy, outcome), policy.version, closes_at)


def redecide(facts: Facts, request: Request, policy: Policy, now: dt.datetime) -> Decision:
    """A request on record as PENDING, decided again at `now` (a new fact, a timer). It was waiting
    for a fact when its window closed, so after the close it expires with the window (unless a
    hard reason now rejects it), however complete the facts have become since."""
    decision = decide(facts, request, policy, now)
    closes_at = decision.window_closes_at
    if decision.outcome is Outcome.APPROVED and closes_at is not None and now > closes_at:
        return expired(facts, request, policy, closes_at)
    return decision


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

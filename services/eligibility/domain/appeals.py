"""Appeals of rejections (pure): who may appeal, which request a WhatsApp reference names, and what
re-evaluating an open appeal says.

- Only a REJECTED request can be appealed, and once: one appeal per decision (a request is rejected
  at most once, and an upheld appeal approves it). A second appeal is refused whatever became of the first.
- An open appeal is decided again with the facts as they are now and the documents the appeal brings,
  lateness judged at the original request's receipt (rules.decide, never redecide): a request received
  inside the window is not WINDOW_EXPIRED because its appeal is upheld after the close.
- Upheld only when the rules approve; otherwise it stays OPEN with the reasons still failing, on the
  worklist, until a fact cures it or an operator dismisses it. An appeal of a request from an earlier
  deactivation cycle is never upheld: a newer deactivation needs a request of its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from services.eligibility.domain.policy import Policy
from services.eligibility.domain.rules import Decision, Facts, Request, decide
from shared.appeals import matches_reference
from shared.enums import AppealRefusal, Outcome
from shared.events import Documents
from shared.timezones import zone_for_nik

NEW_DEACTIVATION = "NEW_DEACTIVATION"  # the reason an appeal of an earlier cycle's request stays open


@dataclass(frozen=True)
class RequestOnRecord:
    request_id: uuid.UUID
    nik: str
    outcome: str
    decided_at: dt.datetime


@dataclass(frozen=True)
class Verdict:
    upheld: bool
    decision: Decision  # APPROVED when upheld: the request's new decision
    reasons: tuple[str, ...]  # what still fails (empty when upheld)


def refusal(request: RequestOnRecord | None, nik: str, already_appealed: bool) -> AppealRefusal | None:
    """Why this appeal may not be opened, or None: the request must be this person's, rejected, and
    not appealed before."""
    if request is None or request.nik != nik:
        return AppealRefusal.UNKNOWN_REQUEST
    if already_appealed:
        return AppealRefusal.ALREADY_APPEALED
    if request.outcome != Outcome.REJECTED.value:
        return AppealRefusal.NOT_REJECTED
    return None


def resolve(requests: list[RequestOnRecord], reference: str) -> RequestOnRecord | None:
    """The request a typed reference names among one person's requests (the newest, should two share
    a prefix)."""
    matching = [r for r in requests if matches_reference(r.request_id, reference)]
    return max(matching, key=lambda r: r.decided_at, default=None)


def meant_for_another(reference: str, siblings: list[RequestOnRecord]) -> bool:
    """A family's phone is on file for several NIKs, so `BANDING <reference>` reaches eligibility once per
    NIK; the NIKs whose requests the reference does not name say nothing (the one it names answers)."""
    return resolve(siblings, reference) is not None


def with_documents(request: Request, documents: Documents) -> Request:
    """The request as appealed: a letter the appeal brings replaces the request's own."""
    own = request.documents
    merged = Documents(
        hospital_letter=documents.hospital_letter or own.hospital_letter,
        doctor_letter=documents.doctor_letter or own.doctor_letter,
        village_letter=documents.village_letter or own.village_letter,
    )
    return replace(request, documents=merged)


def same_cycle(facts: Facts, request: Request) -> bool:
    """The deactivation on record is the one the request answered (none newer came since its receipt)."""
    if facts.deactivated_on is None:
        return True
    received_on = request.received_at.astimezone(zone_for_nik(request.nik)).date()
    return facts.deactivated_on <= received_on


def reevaluate(facts: Facts, request: Request, documents: Documents, policy: Policy, now: dt.datetime) -> Verdict:
    """The appealed request decided again at `now`, lateness judged at its receipt."""
    decision = decide(facts, with_documents(request, documents), policy, now)
    if decision.outcome is Outcome.APPROVED:
        if same_cycle(facts, request):
            return Verdict(True, decision, ())
        return Verdict(False, decision, (NEW_DEACTIVATION,))
    return Verdict(False, decision, tuple(r.value for r in decision.reasons))


def due_at(received_at: dt.datetime, policy: Policy) -> dt.datetime:
    """When an appeal must have been reviewed (the policy's appeal SLA, 14 days by default)."""
    return received_at + policy.appeal_sla

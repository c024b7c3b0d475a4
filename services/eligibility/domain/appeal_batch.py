"""Appeals in a batch (pure): open (or refuse) an appeal, decide the open ones when their people's facts
change, dismiss one an operator reviewed. The rules are in domain.appeals; this applies them to the rows
the handler read (services/eligibility/appeals.py says which) and records the changes on the `Batch`.

What becomes of an appeal goes out as AppealUpdated on the decisions topic: OPEN (the registry puts it on
the worklist as APPEAL_REVIEW), UPHELD (with the request's APPROVED decision, which carries the appeal id:
registry ACTIVE, notifier tells the person), DISMISSED, REFUSED."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from services.eligibility.domain import appeals as rules
from services.eligibility.domain.outgoing import appeal_event, as_request
from services.eligibility.domain.records import AppealRecord, Changes, RequestRecord
from services.eligibility.domain.rules import decided_after
from shared.enums import AppealRefusal, AppealStatus
from shared.events import AppealRequested, AppealReviewed
from shared.nik import mask_nik
from shared.topics import DECISIONS

if TYPE_CHECKING:
    import datetime as dt

    from services.eligibility.domain.batch import Batch

Siblings = Mapping[uuid.UUID, list[RequestRecord]]  # appeal id -> requests of other NIKs in its reference's range


def handle_appeals(batch: Batch, events: list[AppealRequested | AppealReviewed], siblings: Siblings) -> Changes:
    """`batch` holds the people, every request of the batch's NIKs and the requests named by id, the
    appeals named and the appeals of those requests."""
    for event in events:
        if isinstance(event, AppealRequested):
            _open(batch, event, siblings.get(event.appeal_id, []))
        else:
            _dismiss(batch, event)
    return batch.result()


def reevaluate_open(batch: Batch, niks: set[str]) -> None:
    """New facts decide the open appeals of these people (their requests are in the batch)."""
    for appeal in [a for a in batch.appeals.values() if a.nik in niks and a.status == AppealStatus.OPEN.value]:
        _decide(batch, appeal)


def _open(batch: Batch, appeal: AppealRequested, siblings: list[RequestRecord]) -> None:
    """Open the appeal and decide it at once (the cure may have come since the rejection); refused when
    the request is not this person's rejected request or was appealed before."""
    if appeal.appeal_id in batch.appeals:
        return  # the same appeal sent again under another event id
    row = _request(batch, appeal)
    appealed = row is not None and any(a.request_id == row.request_id for a in batch.appeals.values())
    refusal = rules.refusal(_on_record(row) if row is not None else None, appeal.nik, appealed)
    request_id = row.request_id if row is not None else appeal.request_id
    note = {"appeal_id": str(appeal.appeal_id), "nik": mask_nik(appeal.nik)}
    if refusal is AppealRefusal.UNKNOWN_REQUEST and _for_a_sibling(appeal, siblings):
        batch.changes.notes.append(("appeal_for_another_nik", note))
        return
    if refusal is not None:
        batch.changes.notes.append(("appeal_refused", {**note, "why": refusal.value}))
        _publish(batch, appeal, AppealStatus.REFUSED, batch.now, request_id=request_id, reasons=(refusal.value,))
        return
    assert row is not None
    due = appeal.due_at or rules.due_at(appeal.received_at, batch.policy)
    record = AppealRecord(appeal, row.request_id, AppealStatus.OPEN.value, row.reasons, due)
    batch.appeals[appeal.appeal_id] = batch.changes.new_appeals[appeal.appeal_id] = record
    if not _decide(batch, record):
        verdict = _verdict(batch, appeal, row)
        _save(batch, dataclasses.replace(record, reasons=verdict.reasons))
        _publish(
            batch, appeal, AppealStatus.OPEN, batch.now, request_id=row.request_id, reasons=verdict.reasons, due_at=due
        )


def _dismiss(batch: Batch, review: AppealReviewed) -> None:
    """An operator dismisses an open appeal; an appeal already decided stays as it is."""
    a = batch.appeals.get(review.appeal_id)
    if a is None or a.status != AppealStatus.OPEN.value or a.nik != review.nik:
        return
    _save(batch, dataclasses.replace(a, status=AppealStatus.DISMISSED.value, decided_at=batch.now))
    batch.changes.notes.append(("appeal_dismissed", {"appeal_id": str(a.appeal_id), "reviewer": review.reviewer}))
    _publish(
        batch,
        a.event,
        AppealStatus.DISMISSED,
        batch.now,
        request_id=a.request_id,
        reasons=a.reasons,
        due_at=a.due_at,
        note=review.note,
    )


def _decide(batch: Batch, a: AppealRecord) -> bool:
    """Uphold the appeal when the rules now approve its request: the APPROVED decision (exactly once: the
    appeal is no longer OPEN afterwards) and the appeal's UPHELD."""
    row = batch.requests[a.request_id]
    verdict = _verdict(batch, a.event, row)
    if not verdict.upheld:
        return False
    stamp = decided_after(batch.now, row.decided_at)
    batch.record(row, verdict.decision, stamp, appeal_id=a.appeal_id)
    _save(batch, dataclasses.replace(a, status=AppealStatus.UPHELD.value, reasons=(), decided_at=stamp))
    batch.changes.notes.append(("appeal_upheld", {"appeal_id": str(a.appeal_id), "nik": mask_nik(a.nik)}))
    _publish(batch, a.event, AppealStatus.UPHELD, stamp, request_id=a.request_id, due_at=a.due_at)
    return True


def _verdict(batch: Batch, appeal: AppealRequested, row: RequestRecord) -> rules.Verdict:
    facts = batch.person(appeal.nik)[0]
    return rules.reevaluate(facts, as_request(row.event), appeal.documents, batch.policy, batch.now)


def _request(batch: Batch, appeal: AppealRequested) -> RequestRecord | None:
    """The appealed request: by id (intake), or by the reference typed on WhatsApp among the NIK's."""
    if appeal.request_id is not None:
        return batch.requests.get(appeal.request_id)
    assert appeal.request_ref is not None
    found = rules.resolve([_on_record(r) for r in batch.requests.values() if r.nik == appeal.nik], appeal.request_ref)
    return batch.requests[found.request_id] if found is not None else None


def _for_a_sibling(appeal: AppealRequested, siblings: list[RequestRecord]) -> bool:
    """A WhatsApp appeal whose reference names a request of another NIK with the same number on file."""
    if appeal.request_ref is None or appeal.phone is None:
        return False
    return rules.meant_for_another(appeal.request_ref, [_on_record(r) for r in siblings])


def _save(batch: Batch, a: AppealRecord) -> None:
    batch.appeals[a.appeal_id] = a
    target = batch.changes.new_appeals if a.appeal_id in batch.changes.new_appeals else batch.changes.appeals
    target[a.appeal_id] = a


def _publish(batch: Batch, appeal: AppealRequested, status: AppealStatus, at: dt.datetime, **kw: Any) -> None:
    batch.changes.publish(DECISIONS, appeal_event(appeal, status, at, **kw), appeal.event_id)


def _on_record(row: RequestRecord) -> rules.RequestOnRecord:
    return rules.RequestOnRecord(row.request_id, row.nik, row.outcome, row.decided_at)

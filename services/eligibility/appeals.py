"""Appeals in eligibility: open (or refuse) an appeal, re-evaluate the open ones when their people's
facts change, dismiss one an operator reviewed. Runs inside the caller's transaction, after the
people's facts are locked (handlers.load_facts), so it takes turns with every other writer of them.

What becomes of an appeal goes out as AppealUpdated on the decisions topic (outbox): OPEN (the registry
puts it on the worklist as APPEAL_REVIEW), UPHELD (with the request's APPROVED decision, which carries the
appeal id: registry ACTIVE, notifier tells the person), DISMISSED, REFUSED. The rules are in
domain.appeals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility.domain import appeals as rules
from services.eligibility.domain.rules import Facts, decided_after
from services.eligibility.outgoing import appeal_event, as_request
from services.eligibility.store import AppealRow, FactsRow, RequestRow
from shared.appeals import reference_range
from shared.db import any_of
from shared.enums import AppealRefusal, AppealStatus
from shared.events import AppealRequested, AppealReviewed, ReactivationRequested
from shared.nik import mask_nik
from shared.outbox import outbox_row
from shared.topics import DECISIONS

if TYPE_CHECKING:
    import datetime as dt

    from services.eligibility.handlers import Effects, EligibilityHandlers, Known

log = structlog.get_logger(__name__)
A, R = AppealRow.__table__, RequestRow.__table__


class Appeals:
    def __init__(self, handlers: EligibilityHandlers) -> None:
        self.h = handlers

    async def handle(
        self,
        session: AsyncSession,
        event: AppealRequested | AppealReviewed,
        known: Known,
        now: dt.datetime,
        fx: Effects,
    ) -> None:
        if isinstance(event, AppealRequested):
            await self.open(session, event, known, now, fx)
        else:
            await self.dismiss(session, event, known, now, fx)

    async def open(
        self, session: AsyncSession, appeal: AppealRequested, known: Known, now: dt.datetime, fx: Effects
    ) -> None:
        """Open the appeal and decide it at once (the cure may have come since the rejection); refused
        when the request is not this person's rejected request or was appealed before."""
        if (await session.execute(select(A.c.appeal_id).where(A.c.appeal_id == appeal.appeal_id))).first():
            return  # the same appeal sent again under another event id
        row = await self._request(session, appeal)
        target = _on_record(row) if row is not None else None
        appealed = (
            row is not None
            and (await session.execute(select(A.c.appeal_id).where(A.c.request_id == row["request_id"]))).first()
            is not None
        )
        refusal = rules.refusal(target, appeal.nik, appealed)
        request_id = row["request_id"] if row is not None else appeal.request_id
        if refusal is AppealRefusal.UNKNOWN_REQUEST and await self._for_a_sibling(session, appeal):
            log.info("appeal_for_another_nik", appeal_id=str(appeal.appeal_id), nik=mask_nik(appeal.nik))
            return
        if refusal is not None:
            log.info("appeal_refused", appeal_id=str(appeal.appeal_id), nik=mask_nik(appeal.nik), why=refusal.value)
            self._publish(fx, appeal, AppealStatus.REFUSED, now, request_id=request_id, reasons=(refusal.value,))
            return
        assert row is not None
        due = appeal.due_at or rules.due_at(appeal.received_at, self.h.policy)
        await session.execute(
            A.insert().values(
                appeal_id=appeal.appeal_id,
                request_id=row["request_id"],
                nik=appeal.nik,
                status=AppealStatus.OPEN.value,
                reasons=list(row["reasons"]),
                received_at=appeal.received_at,
                due_at=due,
                event=appeal.model_dump(mode="json"),
            )
        )
        appeal_row = {"appeal_id": appeal.appeal_id, "request_id": row["request_id"], "due_at": due}
        if not await self._decide(session, appeal_row, appeal, row, known, now, fx):
            verdict = self._verdict(appeal, row, known, now)
            await session.execute(
                update(A).where(A.c.appeal_id == appeal.appeal_id).values(reasons=list(verdict.reasons))
            )
            self._publish(
                fx, appeal, AppealStatus.OPEN, now, request_id=row["request_id"], reasons=verdict.reasons, due_at=due
            )

    async def reevaluate(
        self, session: AsyncSession, niks: set[str], known: Known, now: dt.datetime, fx: Effects
    ) -> None:
        """New facts decide the open appeals of these people (one indexed query per batch)."""
        open_ = (await session.execute(select(A).where(any_of(A.c.nik, niks), A.c.status == "OPEN"))).mappings().all()
        if not open_:
            return
        rows = await session.execute(select(R).where(any_of(R.c.request_id, [a["request_id"] for a in open_])))
        requests = {r["request_id"]: r for r in rows.mappings()}
        for a in open_:
            appeal = AppealRequested.model_validate(a["event"])
            await self._decide(session, a, appeal, requests[a["request_id"]], known, now, fx)

    async def dismiss(
        self, session: AsyncSession, review: AppealReviewed, known: Known, now: dt.datetime, fx: Effects
    ) -> None:
        """An operator dismisses an open appeal; an appeal already decided stays as it is."""
        a = (await session.execute(select(A).where(A.c.appeal_id == review.appeal_id))).mappings().first()
        if a is None or a["status"] != AppealStatus.OPEN.value or a["nik"] != review.nik:
            return
        appeal = AppealRequested.model_validate(a["event"])
        await session.execute(
            update(A).where(A.c.appeal_id == a["appeal_id"]).values(status=AppealStatus.DISMISSED.value, decided_at=now)
        )
        log.info("appeal_dismissed", appeal_id=str(a["appeal_id"]), reviewer=review.reviewer)
        self._publish(
            fx,
            appeal,
            AppealStatus.DISMISSED,
            now,
            request_id=a["request_id"],
            reasons=tuple(a["reasons"]),
            due_at=a["due_at"],
            note=review.note,
        )

    async def _decide(
        self,
        session: AsyncSession,
        a: Any,
        appeal: AppealRequested,
        row: Any,
        known: Known,
        now: dt.datetime,
        fx: Effects,
    ) -> bool:
        """Uphold the appeal when the rules now approve its request: the APPROVED decision (exactly once:
        the appeal is no longer OPEN afterwards) and the appeal's UPHELD, in this transaction."""
        verdict = self._verdict(appeal, row, known, now)
        if not verdict.upheld:
            return False
        request = ReactivationRequested.model_validate(row["event"])
        stamp = decided_after(now, row["decided_at"])
        await self.h.record(session, request, verdict.decision, stamp, fx, known, appeal_id=appeal.appeal_id)
        await session.execute(
            update(A)
            .where(A.c.appeal_id == a["appeal_id"])
            .values(status=AppealStatus.UPHELD.value, reasons=[], decided_at=stamp)
        )
        log.info("appeal_upheld", appeal_id=str(appeal.appeal_id), nik=mask_nik(appeal.nik))
        self._publish(fx, appeal, AppealStatus.UPHELD, stamp, request_id=row["request_id"], due_at=a["due_at"])
        return True

    def _verdict(self, appeal: AppealRequested, row: Any, known: Known, now: dt.datetime) -> rules.Verdict:
        request = ReactivationRequested.model_validate(row["event"])
        facts = known.get(appeal.nik, (Facts(appeal.nik), None))[0]
        return rules.reevaluate(facts, as_request(request), appeal.documents, self.h.policy, now)

    async def _request(self, session: AsyncSession, appeal: AppealRequested) -> Any:
        """The appealed request: by id (intake), or by the reference typed on WhatsApp among the NIK's."""
        if appeal.request_id is not None:
            return (await session.execute(select(R).where(R.c.request_id == appeal.request_id))).mappings().first()
        rows = (await session.execute(select(R).where(R.c.nik == appeal.nik))).mappings().all()
        assert appeal.request_ref is not None
        found = rules.resolve([_on_record(r) for r in rows], appeal.request_ref)
        return next((r for r in rows if found is not None and r["request_id"] == found.request_id), None)

    async def _for_a_sibling(self, session: AsyncSession, appeal: AppealRequested) -> bool:
        """A WhatsApp appeal whose reference names a request of another NIK with the same number on file."""
        ids = reference_range(appeal.request_ref) if appeal.request_ref else None
        if ids is None or appeal.phone is None:
            return False
        f = FactsRow.__table__
        rows = await session.execute(
            select(R)
            .join(f, f.c.nik == R.c.nik)
            .where(R.c.request_id.between(*ids), f.c.phone == appeal.phone, R.c.nik != appeal.nik)
        )
        return rules.meant_for_another(appeal.request_ref, [_on_record(r) for r in rows.mappings()])

    def _publish(self, fx: Effects, appeal: AppealRequested, status: AppealStatus, now: dt.datetime, **kw: Any) -> None:
        event = appeal_event(appeal, status, now, **kw)
        if any(row["event_id"] == event.event_id for row in fx.outbox):
            return  # the same appeal twice in one batch, refused twice: one event
        fx.outbox.append(outbox_row(self.h.prefix + DECISIONS.name, event, cause=appeal.event_id))


def _on_record(row: Any) -> rules.RequestOnRecord:
    return rules.RequestOnRecord(row["request_id"], row["nik"], row["outcome"], row["decided_at"])

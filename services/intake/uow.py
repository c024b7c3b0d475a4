"""The unit of work of intake's request read model (handlers.ReadModel): the changes
domain.read_model.changes returned, committed once. `PgUnitOfWork` writes them in a few set-based
statements whatever the batch size (one UPDATE ... FROM unnest(...) per round of decisions, one for the SLA
states: an UPDATE per event was the largest item in intake's profile while eligibility decided a backlog);
uow_memory.py is the same in memory, for the handler cases run against both.

No inbox: every effect is idempotent by its own guard, so a redelivered event changes nothing and writes
nothing (an inbox row per decision was intake's one row per decision). A decision applies only when it is
newer than the one the row shows (`last_event_at`), or as new and a different decision (outcome, reasons or
decision time); the SLA state only moves forward; an appeal's row as decisions."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy import and_, bindparam, literal, or_, text, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import DateTime, String, Uuid

from services.intake.domain.read_model import ReadModelChanges, sla_states_below, statuses_a_decision_may_replace
from services.intake.store import SCHEMA, AppealView
from shared.db import lock_in_order
from shared.enums import AppealStatus
from shared.events import AppealUpdated, ReactivationDecided
from shared.uow import SessionUnit

_TEXTS = ARRAY(String)


class ReadModelUnitOfWork(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...  # commits when the block ended without an error, else rolls back

    async def apply(self, changes: ReadModelChanges) -> None: ...


# A decision replaces the row's status only if the row's status is one it may replace (a PENDING never
# reopens a decided request) and it is newer than the decision the row shows, or as new and different (the
# one it shows, delivered again, matches on all three: no write).
APPLY_DECISIONS = text(
    f"""
    update {SCHEMA}.requests r
       set status = v.status, reasons = string_to_array(v.reasons, ','),
           decided_at = v.decided_at, last_event_at = v.occurred_at
      from unnest(:ids, :statuses, :reasons, :decided, :occurred, :may_replace)
           as v(request_id, status, reasons, decided_at, occurred_at, may_replace)
     where r.request_id = v.request_id
       and r.status = any(string_to_array(v.may_replace, ','))
       and (r.last_event_at is null or r.last_event_at < v.occurred_at
            or (r.last_event_at = v.occurred_at
                and (r.status, r.reasons::text[], r.decided_at)
                    is distinct from (v.status, string_to_array(v.reasons, ','), v.decided_at)))
    """
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid)),
    bindparam("statuses", type_=_TEXTS),
    bindparam("reasons", type_=_TEXTS),
    bindparam("decided", type_=ARRAY(DateTime(timezone=True))),
    bindparam("occurred", type_=ARRAY(DateTime(timezone=True))),
    bindparam("may_replace", type_=_TEXTS),
)
# The SLA state only moves forward.
APPLY_SLA = text(
    f"""
    update {SCHEMA}.requests r
       set sla_state = v.sla_state
      from unnest(:ids, :states, :below) as v(request_id, sla_state, below)
     where r.request_id = v.request_id
       and (r.sla_state is null or r.sla_state = any(string_to_array(v.below, ',')))
    """
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid)),
    bindparam("states", type_=_TEXTS),
    bindparam("below", type_=_TEXTS),
)


# The batch's request rows locked in request id order before its updates. An `update ... from unnest` locks
# rows in its plan's order (the unnest's with an index lookup per id, the table's with a hash join on a
# smaller table), whatever its input's order: a batch of decisions and one of SLA states (two consumers)
# taking the same rows deadlocked, retried. So the locks come first, in one order for every batch: every
# batch of two rows or more pays a look-up and a row lock per row beside its update's (sorting its input
# would not do: the plan, not the input, says the order); a batch of one row holds no other while it waits.
LOCK_IN_ORDER = lock_in_order(f"{SCHEMA}.requests", "request_id")


class PgUnitOfWork(SessionUnit):
    async def apply(self, changes: ReadModelChanges) -> None:
        await apply_appeals(self.session, changes.appeals)
        ids = {d.request_id for round_ in changes.decision_rounds for d in round_} | changes.sla.keys()
        if len(ids) > 1:
            await self.session.execute(LOCK_IN_ORDER, {"ids": list(ids)})
        for round_ in changes.decision_rounds:
            await self.session.execute(APPLY_DECISIONS, _decision_columns(round_))
        if changes.sla:
            states = changes.sla.values()
            below = [",".join(sla_states_below(s)) for s in states]
            await self.session.execute(
                APPLY_SLA, {"ids": list(changes.sla), "states": [s.value for s in states], "below": below}
            )


def _decision_columns(decisions: list[ReactivationDecided]) -> dict[str, list[Any]]:
    return {
        "ids": [d.request_id for d in decisions],
        "statuses": [d.outcome.value for d in decisions],
        "reasons": [",".join(r.value for r in d.reasons) for d in decisions],
        "decided": [d.decided_at for d in decisions],
        "occurred": [d.occurred_at for d in decisions],
        "may_replace": [",".join(statuses_a_decision_may_replace(d.outcome)) for d in decisions],
    }


def appeal_shown(e: AppealUpdated) -> tuple[AppealStatus, bool]:
    """The status intake shows and whether the update may create the appeal's row: one eligibility refused
    shows DISMISSED (the refusal its reason), and a refused appeal intake never saw (a mistyped reference)
    is no appeal at all."""
    refused = e.status is AppealStatus.REFUSED
    return (AppealStatus.DISMISSED if refused else e.status), (not refused and e.request_id is not None)


async def apply_appeals(session: AsyncSession, appeals: list[AppealUpdated]) -> None:
    """What eligibility made of appeals (rare: a statement or two each). A WhatsApp appeal intake never saw
    gets its row; an older update never replaces a newer, and one the row shows already writes nothing."""
    t = AppealView.__table__  # type: ignore[attr-defined]
    for e in appeals:
        shown, creates = appeal_shown(e)
        if creates:
            row = {
                "appeal_id": e.appeal_id,
                "request_id": e.request_id,
                "nik": e.nik,
                "channel": e.channel.value,
                "status": shown.value,
                "reasons": list(e.reasons),
                "received_at": e.received_at,
                "due_at": e.due_at or e.received_at,
            }
            # No conflict target: another appeal of the same request (the one eligibility opened first) wins.
            await session.execute(insert(t).values(row).on_conflict_do_nothing())
        values = {"status": shown.value, "reasons": list(e.reasons), "decided_at": e.decided_at}
        shows_it = tuple_(t.c.status, t.c.reasons, t.c.decided_at).is_not_distinct_from(
            tuple_(*(literal(v, t.c[k].type) for k, v in values.items()))
        )
        newer = or_(t.c.last_event_at.is_(None), t.c.last_event_at < e.occurred_at)
        await session.execute(
            update(t)
            .where(t.c.appeal_id == e.appeal_id, or_(newer, and_(t.c.last_event_at == e.occurred_at, ~shows_it)))
            .values(**values, last_event_at=e.occurred_at)
        )

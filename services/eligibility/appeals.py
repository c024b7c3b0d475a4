"""What an appeals batch reads (the rules and what they change: domain.appeal_batch, domain.appeals).

Read under the people's locks (handlers.on_appeals), so it takes turns with every other writer of them:
every request of the batch's NIKs (a WhatsApp reference names one among them), the requests named by id
(whoever's they are: an appeal of another person's request is refused), the appeals named, the appeals of
those requests (a request is appealed once), and for a WhatsApp reference with a number, the requests of
other NIKs with that number on file in the reference's range (a family's phone is on file for several)."""

from __future__ import annotations

import uuid

from services.eligibility.domain.appeal_batch import Siblings
from services.eligibility.domain.records import AppealRecord, RequestRecord
from services.eligibility.store import UnitOfWork
from shared.appeals import reference_range
from shared.events import AppealRequested, AppealReviewed


async def read_for_appeals(
    uow: UnitOfWork, events: list[AppealRequested | AppealReviewed]
) -> tuple[list[RequestRecord], list[AppealRecord], Siblings]:
    opened = [e for e in events if isinstance(e, AppealRequested)]
    requests = {r.request_id: r for r in await uow.requests_of({e.nik for e in opened})}
    named = [e.request_id for e in opened if e.request_id is not None and e.request_id not in requests]
    requests.update({r.request_id: r for r in await uow.requests(named)})
    appeals = {a.appeal_id: a for a in await uow.appeals(e.appeal_id for e in events)}
    appeals.update({a.appeal_id: a for a in await uow.appeals_of_requests(requests)})
    siblings: dict[uuid.UUID, list[RequestRecord]] = {}
    for e in opened:
        ids = reference_range(e.request_ref) if e.request_ref else None
        if ids is not None and e.phone is not None:
            siblings[e.appeal_id] = await uow.siblings(e.phone, ids, e.nik)
    return list(requests.values()), list(appeals.values()), siblings

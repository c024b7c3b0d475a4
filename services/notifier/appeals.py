"""BANDING <reference> from the number on file, handed on to eligibility (which owns appeals) as
`AppealRequested` on pbi.appeals.v1, through the notifier's outbox in the inbound message's transaction.
Eligibility resolves the reference among the NIK's requests and answers with `AppealUpdated`."""

from __future__ import annotations

import datetime as dt
import re

from services.notifier.domain import answers
from shared.appeals import appeal_id_for_message
from shared.enums import Channel
from shared.events import AppealRequested

_REFERENCE = re.compile(r"^[0-9A-Fa-f-]{6,36}$")  # shared.events.RequestRef


def appeal_events(
    inbound_id: str, phone: str, reference: str | None, niks: list[str], now: dt.datetime
) -> tuple[list[AppealRequested], str]:
    """(events to publish, the answer) for the NIKs the reference concerns (inbound.py narrows a family's
    phone to the NIK whose request it names, when the notifier has seen that request)."""
    if reference is None or not _REFERENCE.fullmatch(reference):
        return [], answers.APPEAL_USAGE
    events = [
        AppealRequested(
            # One inbound message opens at most one appeal per NIK, whatever the webhook's redeliveries.
            appeal_id=appeal_id_for_message(inbound_id if len(niks) == 1 else f"{inbound_id}:{nik}"),
            occurred_at=now,
            source="notifier",
            nik=nik,
            request_ref=reference,
            channel=Channel.WHATSAPP,
            phone=phone,
            received_at=now,
        )
        for nik in niks
    ]
    return events, answers.appeal_received(reference)

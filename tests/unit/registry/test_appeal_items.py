"""APPEAL_REVIEW items from eligibility's appeal.updated: an open appeal waits on the worklist until its due
date, with the appealed request; upheld or dismissed, its item is done; a refusal opens nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.registry.domain.worklist import appeal_decided, appeal_item, item_id
from shared.enums import AppealStatus, WorklistKind
from shared.events import AppealUpdated

NIK = "3674015708900001"
T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
REQUEST = uuid.uuid4()
REGION = ("Banten", "Kota Tangerang Selatan", "Pamulang")


def updated(status: AppealStatus, request_id: uuid.UUID | None = REQUEST) -> AppealUpdated:
    return AppealUpdated(
        occurred_at=T0 + dt.timedelta(minutes=1),
        source="eligibility",
        nik=NIK,
        appeal_id=uuid.uuid4(),
        request_id=request_id,
        status=status,
        reasons=["DESIL_ABOVE_5"],
        channel="DINSOS",
        received_at=T0,
        due_at=T0 + dt.timedelta(days=14),
    )


def test_an_open_appeal_is_an_appeal_review_item_due_at_its_due_date() -> None:
    item = appeal_item(updated(AppealStatus.OPEN), REGION)
    assert item is not None
    assert (item.kind, item.request_id, item.nik, item.region) == (WorklistKind.APPEAL_REVIEW, REQUEST, NIK, REGION)
    assert item.due_at == T0 + dt.timedelta(days=14) and item.opened_at == T0 + dt.timedelta(minutes=1)
    assert item.item_id == item_id(REQUEST, WorklistKind.APPEAL_REVIEW)  # one per request, whatever is redelivered


@pytest.mark.parametrize(
    ("status", "opens", "closes"),
    [
        (AppealStatus.OPEN, True, False),
        (AppealStatus.UPHELD, False, True),
        (AppealStatus.DISMISSED, False, True),
        (AppealStatus.REFUSED, False, False),
    ],
)
def test_what_each_appeal_status_does_to_the_worklist(status: AppealStatus, opens: bool, closes: bool) -> None:
    e = updated(status)
    assert (appeal_item(e, REGION) is not None, appeal_decided(e)) == (opens, closes)
    unknown = updated(status, request_id=None)  # a refused WhatsApp reference names no request
    assert appeal_item(unknown, REGION) is None and not appeal_decided(unknown)

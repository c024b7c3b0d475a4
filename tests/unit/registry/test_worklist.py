"""Worklist items from decisions: follow-ups once per (request, kind); an emergency held by an open NIK
conflict (or a missing list) at once, due at its SLA deadline; released by its final decision."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.registry.domain.worklist import (
    FOLLOW_UP_DUE,
    emergency_held,
    emergency_released,
    item_id,
    items_for_decision,
)
from shared.enums import WorklistKind as K
from shared.events import ReactivationDecided
from testkit.events import NIK, T0, decided

RID = uuid.UUID("00000000-0000-4000-8000-000000000042")
REGION = ("Banten", "Kota Tangerang Selatan", "Serpong")


def decision(
    outcome: str, reasons: tuple[str, ...] = (), follow_ups: tuple[str, ...] = (), path: str = "EMERGENCY"
) -> ReactivationDecided:
    """Eligibility's decision on RID (received at T0) a minute after its receipt."""
    return decided(NIK, RID, outcome, T0 + dt.timedelta(minutes=1), reasons, follow_ups, path)


@pytest.mark.parametrize(
    ("d", "kinds"),
    [
        (decision("APPROVED", follow_ups=("DESIL_REVERIFICATION",)), [K.DESIL_REVERIFICATION]),
        (
            decision("APPROVED", follow_ups=("DESIL_REVERIFICATION", "BIOMETRIC_RECORDING", "SIKS_NG_ENTRY")),
            [K.DESIL_REVERIFICATION, K.BIOMETRIC_RECORDING, K.SIKS_NG_ENTRY],
        ),
        (decision("APPROVED", follow_ups=("SIKS_NG_ENTRY", "SIKS_NG_ENTRY")), [K.SIKS_NG_ENTRY]),  # listed twice
        (decision("APPROVED", follow_ups=("SIKS_NG_ENTRY",), path="REGULAR"), [K.SIKS_NG_ENTRY]),
        (decision("APPROVED"), []),
        (decision("PENDING", ("NIK_CONFLICT",)), [K.EMERGENCY_HELD]),
        (decision("PENDING", ("NOT_DEACTIVATED",)), [K.EMERGENCY_HELD]),  # the list may still be on its way
        (decision("PENDING", ("NIK_CONFLICT", "DOCUMENT_MISSING")), [K.EMERGENCY_HELD]),
        (decision("PENDING", ("DOCUMENT_MISSING",)), []),  # the hospital can fix that itself
        (decision("PENDING", ("NIK_CONFLICT",), path="REGULAR"), []),  # only emergencies cannot wait
        (decision("REJECTED", ("NIK_CONFLICT",)), []),
        (
            decision("PENDING", ("NIK_CONFLICT",), follow_ups=("BIOMETRIC_RECORDING",)),
            [K.BIOMETRIC_RECORDING, K.EMERGENCY_HELD],
        ),
    ],
)
def test_items_a_decision_opens(d: ReactivationDecided, kinds: list[K]) -> None:
    items = items_for_decision(d, REGION)
    assert [i.kind for i in items] == kinds
    for i in items:
        assert (i.nik, i.request_id, i.region, i.opened_at) == (d.nik, RID, REGION, d.decided_at)
        assert i.item_id == item_id(RID, i.kind)
        expected_due = d.sla_deadline if i.kind is K.EMERGENCY_HELD else d.decided_at + FOLLOW_UP_DUE
        assert i.due_at == expected_due


def test_one_item_per_request_and_kind_whatever_decision_carries_it() -> None:
    pending = items_for_decision(decision("PENDING", ("NIK_CONFLICT",), follow_ups=("SIKS_NG_ENTRY",)), REGION)
    approved = items_for_decision(decision("APPROVED", follow_ups=("SIKS_NG_ENTRY",)), REGION)
    assert {i.item_id for i in pending} & {i.item_id for i in approved} == {item_id(RID, K.SIKS_NG_ENTRY)}
    assert item_id(RID, K.SIKS_NG_ENTRY) != item_id(uuid.uuid4(), K.SIKS_NG_ENTRY)
    assert item_id(RID, K.SIKS_NG_ENTRY) != item_id(RID, K.BIOMETRIC_RECORDING)


@pytest.mark.parametrize(
    ("d", "held", "released"),
    [
        (decision("PENDING", ("NIK_CONFLICT",)), True, False),
        (decision("APPROVED"), False, True),
        (decision("REJECTED", ("DECEASED",)), False, True),
        (decision("EXPIRED", ("WINDOW_EXPIRED",)), False, True),
        (decision("APPROVED", path="REGULAR"), False, False),
    ],
)
def test_held_and_released(d: ReactivationDecided, held: bool, released: bool) -> None:
    assert (emergency_held(d), emergency_released(d)) == (held, released)

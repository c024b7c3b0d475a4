"""Worklist rules beyond the decisions: a breach opens SLA_BREACHED (only a breach does), and a fact
closes the items it does the work of: biometric -> BIOMETRIC_RECORDING, ID Semesta -> SIKS_NG_ENTRY,
a re-ranking dated no earlier than the item -> DESIL_REVERIFICATION; nothing else closes anything."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.registry.domain.worklist import (
    ALWAYS,
    FOLLOW_UP_DUE,
    already_satisfied,
    breach_item,
    finally_decided,
    item_id,
    items_for_decision,
    satisfied_by,
)
from shared.enums import WorklistKind as K
from shared.events import (
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    EmergencySlaChanged,
    Event,
    IdSemestaAssigned,
    NikConflictResolved,
    ReactivationDecided,
)

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
NIK = "3674015708900001"
RID = uuid.UUID("00000000-0000-4000-8000-000000000042")
REGION = ("Banten", "Kota Tangerang Selatan", "Serpong")
BASE = {"occurred_at": T0, "source": "test", "nik": NIK}


def sla(state: str) -> EmergencySlaChanged:
    return EmergencySlaChanged(
        **BASE,
        request_id=RID,
        sla_state=state,  # type: ignore[arg-type]
        sla_deadline=T0 + dt.timedelta(hours=24),
        received_at=T0,
    )


@pytest.mark.parametrize(("state", "opens"), [("OK", False), ("WARNING", False), ("BREACHED", True), ("MET", False)])
def test_only_a_breach_opens_an_sla_breached_item(state: str, opens: bool) -> None:
    item = breach_item(sla(state), REGION)
    assert (item is not None) == opens
    if item is not None:
        assert (item.kind, item.item_id, item.due_at) == (
            K.SLA_BREACHED,
            item_id(RID, K.SLA_BREACHED),
            T0 + 24 * dt.timedelta(hours=1),
        )
        assert (item.nik, item.request_id, item.region, item.opened_at) == (NIK, RID, REGION, T0)


@pytest.mark.parametrize(
    ("event", "kind", "until"),
    [
        (BiometricRecorded(**BASE, recorded_on=dt.date(2026, 11, 20)), K.BIOMETRIC_RECORDING, ALWAYS),
        (IdSemestaAssigned(**BASE, id_semesta="0001234567890"), K.SIKS_NG_ENTRY, ALWAYS),
        # A re-ranking effective 25 Nov satisfies an item opened up to the end of that day (UTC), no later.
        (
            DesilUpdated(**BASE, desil=4, effective_on=dt.date(2026, 11, 25)),
            K.DESIL_REVERIFICATION,
            dt.datetime(2026, 11, 26, tzinfo=dt.UTC),
        ),
        (DeathReported(**BASE, died_on=dt.date(2026, 11, 20)), None, None),
        (NikConflictResolved(**BASE), None, None),  # EMERGENCY_HELD waits for the final decision
    ],
)
def test_the_fact_that_does_the_work_closes_its_kind(event: Event, kind: K | None, until: dt.datetime | None) -> None:
    done = satisfied_by(event)
    assert (done.kind if done else None) == kind
    if done is not None:
        assert (done.by, done.opened_by) == (event.type, until)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "biometric", "id_semesta", "closed"),
    [
        (K.BIOMETRIC_RECORDING, True, None, True),
        (K.BIOMETRIC_RECORDING, False, "X", False),
        (K.SIKS_NG_ENTRY, False, "0001", True),
        (K.SIKS_NG_ENTRY, True, None, False),
        (K.DESIL_REVERIFICATION, True, "0001", False),  # which re-ranking came first cannot be told here
        (K.EMERGENCY_HELD, True, "0001", False),
    ],
)
def test_a_follow_up_whose_fact_already_arrived_is_done_at_once(
    kind: K, biometric: bool, id_semesta: str | None, closed: bool
) -> None:
    assert (already_satisfied(kind, biometric, id_semesta) is not None) == closed


def pending_regular(*reasons: str, closes: dt.datetime | None = T0 + dt.timedelta(days=90)) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=T0,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid5(RID, "PENDING"),
        request_id=RID,
        path="REGULAR",
        channel="VILLAGE",
        outcome="PENDING",
        reasons=list(reasons),  # type: ignore[arg-type]
        policy_version="t",
        received_at=T0,
        decided_at=T0,
        window_closes_at=closes,
    )


@pytest.mark.parametrize(
    ("reasons", "kinds"),
    [
        (("DESIL_UNKNOWN", "BIOMETRIC_MISSING"), [K.DESIL_REVERIFICATION, K.BIOMETRIC_RECORDING]),
        (("BIOMETRIC_MISSING",), [K.BIOMETRIC_RECORDING]),
        (("DOCUMENT_MISSING",), []),  # the applicant brings the letter: nothing for operations to chase
        (("NOT_DEACTIVATED",), []),
    ],
)
def test_what_a_pending_request_waits_for_is_on_the_list_until_its_window_closes(
    reasons: tuple[str, ...], kinds: list[K]
) -> None:
    items = items_for_decision(pending_regular(*reasons), REGION)
    assert [i.kind for i in items] == kinds
    assert all(i.waiting and i.due_at == T0 + dt.timedelta(days=90) for i in items)
    assert all(i.item_id == item_id(RID, i.kind) for i in items)  # the same item as an approval's follow-up
    [no_window] = items_for_decision(pending_regular("BIOMETRIC_MISSING", closes=None), REGION)
    assert no_window.due_at == T0 + FOLLOW_UP_DUE


@pytest.mark.parametrize(
    ("outcome", "final"), [("PENDING", False), ("APPROVED", True), ("REJECTED", True), ("EXPIRED", True)]
)
def test_every_final_decision_settles_what_its_request_waited_for(outcome: str, final: bool) -> None:
    assert finally_decided(pending_regular().model_copy(update={"outcome": outcome})) is final

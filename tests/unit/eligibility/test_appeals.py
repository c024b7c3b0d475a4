"""Appeal rules (services.eligibility.domain.appeals): who may appeal, one appeal per decision, which
request a WhatsApp reference names, and what re-evaluation says (lateness judged at the original receipt)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.domain.appeals import (
    NEW_DEACTIVATION,
    RequestOnRecord,
    due_at,
    reevaluate,
    refusal,
    resolve,
    with_documents,
)
from services.eligibility.domain.policy import policy_from_json
from services.eligibility.domain.rules import Facts, Request
from shared.appeals import appeal_id_for_message, matches_reference, request_reference
from shared.enums import AppealRefusal, Outcome, ReactivationPath
from shared.events import DoctorLetter, Documents, VillageLetter
from testkit.policy import POLICY

NIK = "3674015708900001"  # Banten, WIB
OTHER_NIK = "3674015708900002"
DEACTIVATED = dt.date(2026, 6, 1)
CLOSES = dt.datetime(2026, 12, 1, 16, 59, 59, tzinfo=dt.UTC)  # 1 Dec 23:59:59 WIB
RECEIVED = dt.datetime(2026, 7, 1, 3, 0, tzinfo=dt.UTC)
REQUEST_ID = uuid.UUID("3f2a9c1b-0000-4000-8000-000000000001")


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {
        "nik": NIK,
        "deactivated_on": DEACTIVATED,
        "desil": 3,
        "desil_effective_on": dt.date(2026, 6, 20),
        "biometric_recorded": True,
        "id_semesta": "IDS-1",
    }
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def request(path: ReactivationPath = ReactivationPath.REGULAR, received_at: dt.datetime = RECEIVED) -> Request:
    return Request(str(REQUEST_ID), NIK, path, received_at, Documents(), facility_registered=True)


def on_record(outcome: str, nik: str = NIK) -> RequestOnRecord:
    return RequestOnRecord(REQUEST_ID, nik, outcome, RECEIVED)


@pytest.mark.parametrize(
    ("record", "nik", "appealed", "expected"),
    [
        (on_record("REJECTED"), NIK, False, None),  # a rejection, not appealed before: opened
        (on_record("REJECTED"), NIK, True, AppealRefusal.ALREADY_APPEALED),  # one appeal per decision
        (on_record("APPROVED"), NIK, False, AppealRefusal.NOT_REJECTED),
        (on_record("PENDING"), NIK, False, AppealRefusal.NOT_REJECTED),
        (on_record("EXPIRED"), NIK, False, AppealRefusal.NOT_REJECTED),
        (on_record("APPROVED"), NIK, True, AppealRefusal.ALREADY_APPEALED),  # upheld before: still one
        (on_record("REJECTED", OTHER_NIK), NIK, False, AppealRefusal.UNKNOWN_REQUEST),  # not this person's
        (None, NIK, False, AppealRefusal.UNKNOWN_REQUEST),
    ],
)
def test_who_may_appeal(record: RequestOnRecord | None, nik: str, appealed: bool, expected: object) -> None:
    assert refusal(record, nik, appealed) == expected


@pytest.mark.parametrize(
    ("changed", "upheld", "reasons"),
    [
        ({}, True, ()),  # the cure arrived since the rejection
        ({"desil": 7}, False, ("DESIL_ABOVE_5",)),  # no new facts: waits for a person
        ({"desil_effective_on": DEACTIVATED}, False, ("DESIL_UNKNOWN",)),  # the ranking that caused it
        ({"biometric_recorded": False}, False, ("BIOMETRIC_MISSING",)),
        ({"deceased": True}, False, ("DECEASED",)),
        ({"nik_conflict_open": True}, False, ("NIK_CONFLICT",)),
        ({"reactivated": True}, False, ("ALREADY_ACTIVE",)),
        # a newer deactivation (re-ranked since): the appealed request answered an earlier cycle
        (
            {"deactivated_on": dt.date(2026, 8, 1), "desil_effective_on": dt.date(2026, 8, 10)},
            False,
            (NEW_DEACTIVATION,),
        ),
    ],
)
def test_reevaluation_upholds_only_what_the_rules_approve(changed: dict, upheld: bool, reasons: tuple) -> None:
    verdict = reevaluate(facts(**changed), request(), Documents(), POLICY, RECEIVED + dt.timedelta(days=3))
    assert (verdict.upheld, verdict.reasons) == (upheld, reasons)
    if upheld:
        assert verdict.decision.outcome is Outcome.APPROVED


@given(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=400)))
def test_lateness_is_judged_at_the_original_receipt(after_close: dt.timedelta) -> None:
    """A request received in its window is upheld on appeal however long after the close."""
    verdict = reevaluate(facts(), request(received_at=CLOSES), Documents(), POLICY, CLOSES + after_close)
    assert verdict.upheld and verdict.decision.reasons == ()
    late = reevaluate(facts(), request(received_at=CLOSES + dt.timedelta(seconds=1)), Documents(), POLICY, CLOSES)
    assert (late.upheld, late.reasons) == (False, ("WINDOW_EXPIRED",))


def test_documents_brought_by_the_appeal_complete_the_request() -> None:
    chronic = request(ReactivationPath.CHRONIC)
    assert reevaluate(facts(), chronic, Documents(), POLICY, RECEIVED).reasons == ("DOCUMENT_MISSING",)
    letters = Documents(
        doctor_letter=DoctorLetter(register_no="SIP-1"), village_letter=VillageLetter(letter_no="K/1", desil=4)
    )
    assert reevaluate(facts(), chronic, letters, POLICY, RECEIVED).upheld
    assert with_documents(chronic, Documents()).documents == chronic.documents


def test_a_typed_reference_names_the_persons_request() -> None:
    other = RequestOnRecord(uuid.UUID("aaaaaaaa-0000-4000-8000-000000000002"), NIK, "REJECTED", RECEIVED)
    mine = on_record("REJECTED")
    ref = request_reference(REQUEST_ID)
    assert ref == "3F2A9C1B"
    for typed in (ref, ref.lower(), "3f2a-9c1b", str(REQUEST_ID)):
        assert resolve([other, mine], typed) == mine
    assert resolve([other, mine], "3f2a9") is None  # too short to name anything
    assert resolve([other, mine], "bbbbbbbb") is None
    assert not matches_reference(REQUEST_ID, "")


def test_appeal_due_date_comes_from_the_policy_file() -> None:
    from services.eligibility.app import load_policy

    assert load_policy().appeal_sla == dt.timedelta(days=14)
    from services.eligibility.app import POLICY_FILE

    three = policy_from_json(json.dumps(json.loads(POLICY_FILE.read_text()) | {"appeal_sla_days": 3}))
    assert due_at(RECEIVED, three) == RECEIVED + dt.timedelta(days=3)


def test_one_whatsapp_message_opens_at_most_one_appeal() -> None:
    assert appeal_id_for_message("wamid.1") == appeal_id_for_message("wamid.1") != appeal_id_for_message("wamid.2")


def test_a_family_phone_answers_for_the_nik_whose_request_the_reference_names() -> None:
    from services.eligibility.domain.appeals import meant_for_another

    sibling = RequestOnRecord(REQUEST_ID, OTHER_NIK, "REJECTED", RECEIVED)
    assert meant_for_another("3F2A9C1B", [sibling]) and not meant_for_another("ABCDEF12", [sibling])
    assert not meant_for_another("3F2A9C1B", [])


@given(st.uuids(), st.integers(min_value=6, max_value=32))
def test_a_reference_range_holds_exactly_the_ids_it_names(request_id: uuid.UUID, length: int) -> None:
    from shared.appeals import reference_range

    ref = request_id.hex[:length].upper()
    bounds = reference_range(ref)
    assert bounds is not None and bounds[0] <= request_id <= bounds[1]
    assert all(matches_reference(u, ref) for u in bounds)
    assert reference_range("3f2a9") is None and reference_range("zzzzzzzz") is None

"""Known people are written back in the columns any of the batch's people changed
(services/registry/uow.py changed_columns, _update_people): a decision moves two of fifteen."""

from __future__ import annotations

import datetime as dt

from services.registry.domain.status import Participant, replace
from services.registry.store import P
from services.registry.uow import PARTICIPANT_FIELDS, changed_columns
from shared.columns import ARRAY_, PACKED, columns, update
from shared.enums import ParticipantStatus as S

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
A = Participant("3674015708900001", S.INACTIVE, "Banten", "Tangerang Selatan", "Serpong", last_status_event_at=T0)
B = replace(A, nik="3674015708900002", desil=4)


def pairs(*changed: tuple[Participant, Participant]) -> list[tuple[dict[str, object], dict[str, object]]]:
    return [(before.__dict__, after.__dict__) for before, after in changed]


def test_a_decision_changes_status_and_last_status_event_only() -> None:
    decided = replace(A, status=S.REACTIVATION_PENDING, last_status_event_at=T0 + dt.timedelta(hours=1))
    assert changed_columns(pairs((A, decided))) == ("status", "last_status_event_at")


def test_the_columns_are_the_union_over_the_batch_in_table_order() -> None:
    decided = replace(A, status=S.REACTIVATION_PENDING)
    reranked = replace(B, desil=7)
    assert changed_columns(pairs((A, decided), (B, reranked))) == ("status", "desil")
    assert changed_columns(pairs((B, reranked), (A, decided))) == ("status", "desil")


def test_nothing_changed_is_no_column_and_every_column_can_be_one() -> None:
    assert changed_columns(pairs((A, A))) == ()
    t = T0 + dt.timedelta(days=1)
    other = Participant(A.nik, S.ACTIVE, "p", "r", "d", "DECEASED", T0.date(), T0, 9, True, "x", True, True, "0812", t)
    assert changed_columns(pairs((A, other))) == tuple(PARTICIPANT_FIELDS[1:])


def test_the_update_sets_only_those_columns_by_nik() -> None:
    values = {"nik": [A.nik, B.nik], "status": [S.ACTIVE, S.EXPIRED], "last_status_event_at": [T0, T0]}
    batch = columns(P, values, keys=("nik",))
    assert batch.modes == (PACKED, PACKED, "one")  # the key never one value; statuses packed as their values
    assert batch.params["p1"] == "ACTIVE\x1fEXPIRED"
    sql = str(update(P, batch.names, batch.modes))
    assert sql.startswith("update registry.participants t set status = u.c1, last_status_event_at = cast(:p2 as")
    assert sql.endswith("where t.nik = u.c0") and "desil" not in sql and "phone" not in sql
    assert columns(P, {"nik": [A.nik], "desil": [None]}, keys=("nik",)).modes == (PACKED, ARRAY_)

"""The worklist API's pure parts: the masked item view, the cursor round trip (bound to its order), and a
region-bound key's filters (its own region whatever it asks, 403 for another) and items (another region's are
not its)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from services.registry.worklist import WorklistOrder
from services.registry.worklist_api import bound_filters, decode_cursor, encode_cursor, in_region, item_view
from shared.auth import Principal
from shared.auth.region import bind_region

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)


def key(province: str | None = None, regency: str | None = None) -> Principal:
    return Principal("k1", "Dinsos", frozenset({"worklist:read"}), province=province, regency=regency)


def row(**over: object) -> dict:  # type: ignore[type-arg]
    return {
        "item_id": uuid.uuid4(),
        "kind": "BIOMETRIC_RECORDING",
        "nik": "3674015708900001",
        "request_id": uuid.uuid4(),
        "province": "Banten",
        "regency": "Kota Tangerang Selatan",
        "district": "Serpong",
        "opened_at": T0,
        "due_at": T0 + dt.timedelta(days=30),
        "state": "OPEN",
        "closed_by": None,
        "closed_at": None,
        "note": None,
        **over,
    }


def test_the_item_view_masks_the_nik_and_marks_what_is_overdue() -> None:
    view = item_view(row(), T0 + dt.timedelta(days=31))
    assert view["nik"] == "3674********0001"
    assert view["region"] == {"province": "Banten", "regency": "Kota Tangerang Selatan", "district": "Serpong"}
    assert view["overdue"] is True
    assert item_view(row(), T0)["overdue"] is False
    assert item_view(row(state="DONE"), T0 + dt.timedelta(days=31))["overdue"] is False


@given(
    due=st.none() | st.datetimes(timezones=st.just(dt.UTC)),
    item=st.uuids(),
    order=st.sampled_from(WorklistOrder),
)
def test_a_cursor_gives_back_the_last_item_s_place(
    due: dt.datetime | None, item: uuid.UUID, order: WorklistOrder
) -> None:
    assert decode_cursor(encode_cursor({"due_at": due, "item_id": item}, order), order) == (due, item)
    assert decode_cursor(encode_cursor({"due_at": due, "item_id": item})) == (due, item)  # newest_due by default


def test_a_cursor_of_one_order_asked_with_another_is_a_422() -> None:
    cursor = encode_cursor({"due_at": T0, "item_id": uuid.uuid4()}, WorklistOrder.OLDEST_DUE)
    with pytest.raises(HTTPException) as info:
        decode_cursor(cursor, WorklistOrder.NEWEST_DUE)
    assert info.value.status_code == 422 and "order=oldest_due" in str(info.value.detail)


def test_a_cursor_given_before_the_order_parameter_is_newest_due_s() -> None:
    item = uuid.uuid4()
    old = base64.urlsafe_b64encode(f"{T0.isoformat()}|{item}".encode()).decode().rstrip("=")
    assert decode_cursor(old) == (T0, item)
    with pytest.raises(HTTPException):
        decode_cursor(old, WorklistOrder.OLDEST_DUE)


# A fixed id: pytest-xdist's workers must collect the same parameters (a random one differs per worker).
CURSOR_ITEM = uuid.UUID("81011b04-2d98-4b5c-8f72-f9f0c69666e0")


@pytest.mark.parametrize(
    "bad",
    [
        "x",
        "!!!",
        "bm90LWEtY3Vyc29y",
        encode_cursor({"due_at": None, "item_id": CURSOR_ITEM})[:-3],
        base64.urlsafe_b64encode(f"|{CURSOR_ITEM}|newest|x".encode()).decode(),
    ],
)
def test_a_made_up_cursor_is_a_422(bad: str) -> None:
    with pytest.raises(HTTPException) as info:
        decode_cursor(bad)
    assert info.value.status_code == 422


def test_an_unbound_key_filters_as_it_asks() -> None:
    assert bound_filters(key(), "Bali", None) == ("Bali", None)
    assert bound_filters(key(), None, None) == (None, None)


def test_a_bound_key_sees_its_own_region_and_may_not_ask_for_another() -> None:
    regency = key("36", "3674")
    assert bound_filters(regency, None, None) == ("Banten", "Kota Tangerang Selatan")
    assert bound_filters(regency, "Banten", "Kota Tangerang Selatan") == ("Banten", "Kota Tangerang Selatan")
    for province, name in (("Bali", None), (None, "Kota Tangerang")):
        with pytest.raises(HTTPException) as info:
            bound_filters(regency, province, name)
        assert info.value.status_code == 403
    assert bound_filters(key("36"), None, "Kota Tangerang") == ("Banten", "Kota Tangerang")


@pytest.mark.parametrize(
    ("province", "regency", "names"),
    [
        ("36", "36.74", ("Banten", "Kota Tangerang Selatan")),
        ("Banten", "3674", ("Banten", "Kota Tangerang Selatan")),
        ("99", "9999", ("99", "9999")),  # no such region: filters nothing in, as a name nobody has
        (None, None, (None, None)),
    ],
)
def test_a_filter_may_name_a_region_by_its_kemendagri_code(
    province: str | None, regency: str | None, names: tuple
) -> None:  # type: ignore[type-arg]
    assert bound_filters(key(), province, regency) == names
    if names[0] == "Banten":
        assert bound_filters(key("36", "3674"), province, regency) == names  # its own region, by code


def test_a_bound_key_owns_only_its_region_s_items() -> None:
    assert in_region(key("36", "3674"), row())
    assert not in_region(key("36", "3671"), row())
    assert not in_region(key("51"), row())
    assert in_region(key(), row(province="Papua"))


@pytest.mark.parametrize(
    ("province", "regency", "bound"),
    [
        ("36", None, ("36", None)),
        (None, "36.74", ("36", "3674")),  # a regency alone implies its province
        ("36", "3674", ("36", "3674")),
        (None, "9101", ("93", "9301")),  # a code issued before the 2022 split: Merauke is in Papua Selatan now
        (None, None, (None, None)),
    ],
)
def test_binding_a_key_to_a_region(province: str | None, regency: str | None, bound: tuple) -> None:  # type: ignore[type-arg]
    assert bind_region(province, regency) == bound


@pytest.mark.parametrize(("province", "regency"), [("99", None), (None, "3699"), ("51", "3674"), ("Banten", None)])
def test_a_region_kemendagri_does_not_know_or_that_does_not_fit_is_refused(
    province: str | None, regency: str | None
) -> None:
    with pytest.raises(ValueError):
        bind_region(province, regency)

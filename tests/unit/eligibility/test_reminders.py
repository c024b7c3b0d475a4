"""Window reminders (DOMAIN.md): only while the window is open, only for the current deactivation (a
request in an earlier cycle does not silence them), stating the days really left; none to the dead."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.domain.facts import fold
from services.eligibility.domain.reminders import days_left, due_at, remind
from services.eligibility.domain.rules import Facts
from services.eligibility.domain.window import reactivation_window_closes_at
from shared.events import ParticipantDeactivated
from testkit.policy import POLICY

NIK = "3674015708900001"  # WIB
JAYAPURA = "9171015708900001"  # Kota Jayapura: WIT
JUNE_1 = dt.date(2026, 6, 1)
CLOSES = reactivation_window_closes_at(JUNE_1, NIK, POLICY)  # 1 Dec 2026 23:59:59 WIB
DAY = dt.timedelta(days=1)


def loaded(on: dt.date = JUNE_1, nik: str = NIK) -> Facts:
    event = ParticipantDeactivated(
        occurred_at=dt.datetime(2026, 6, 2, tzinfo=dt.UTC), source="SIKS-NG", nik=nik, deactivated_on=on, reason="OTHER"
    )
    return fold(Facts(nik), None, event, POLICY)[0]


def sweep(facts: Facts, clock: list[dt.datetime], asked: dt.datetime | None = None) -> list[int]:
    """What a sweep running at each of these moments sends (days left), as timers.sweep_reminders does."""
    sent = []
    for now in clock:
        if facts.next_reminder_at is None or facts.next_reminder_at > now:
            continue
        reminder, next_at = remind(facts, POLICY, now, asked)
        facts = replace(facts, next_reminder_at=next_at)
        if reminder is not None:
            sent.append(reminder.days_left)
    return sent


def every_hour(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    return [start + dt.timedelta(hours=h) for h in range(int((end - start) / dt.timedelta(hours=1)) + 1)]


def test_the_first_reminder_is_due_at_local_midnight_30_days_before_the_closing_day() -> None:
    assert loaded().next_reminder_at == dt.datetime(2026, 11, 1, 0, 0, tzinfo=CLOSES.tzinfo)
    assert due_at(CLOSES, 7) == dt.datetime(2026, 11, 24, 0, 0, tzinfo=CLOSES.tzinfo)
    assert days_left(CLOSES, due_at(CLOSES, 30)) == 30
    assert days_left(CLOSES, CLOSES) == 0


@pytest.mark.parametrize(
    ("clock", "sent"),
    [
        (every_hour(CLOSES - 40 * DAY, CLOSES + 2 * DAY), [30, 7]),  # on time: 30, then 7
        ([CLOSES - 6 * DAY], [6]),  # a list loaded 6 days before closing: one reminder, 6 days
        ([CLOSES - 6 * DAY, CLOSES - 5 * DAY], [6]),  # and not again
        ([CLOSES - 20 * DAY, CLOSES - 3 * DAY], [20, 3]),  # a sweep that came late says so
        ([CLOSES - 10 * DAY, CLOSES - 9 * DAY], [10]),  # the 7-day one is still to come
        ([CLOSES - 10 * DAY, CLOSES - 7 * DAY], [10, 7]),
        ([CLOSES + dt.timedelta(seconds=1)], []),  # loaded after closing: nothing
        ([CLOSES], [0]),  # the last second of the closing day: "closes today"
    ],
)
def test_a_reminder_states_the_days_really_left(clock: list[dt.datetime], sent: list[int]) -> None:
    assert sweep(loaded(), clock) == sent


@pytest.mark.parametrize(
    ("facts", "asked", "sent"),
    [
        (loaded(), None, [30, 7]),
        (loaded(), dt.datetime(2026, 5, 20, tzinfo=dt.UTC), [30, 7]),  # asked in an earlier cycle
        (loaded(), dt.datetime(2026, 5, 31, 17, tzinfo=dt.UTC), []),  # 1 Jun 00:00 WIB: this cycle
        (loaded(), dt.datetime(2026, 5, 31, 16, 59, tzinfo=dt.UTC), [30, 7]),  # 31 May 23:59 WIB
        (replace(loaded(), deceased=True), None, []),
        (replace(loaded(), reactivated=True), None, []),
    ],
)
def test_who_gets_reminded(facts: Facts, asked: dt.datetime | None, sent: list[int]) -> None:
    assert sweep(facts, every_hour(CLOSES - 40 * DAY, CLOSES + DAY), asked) == sent


def test_a_deactivation_for_death_schedules_no_reminder() -> None:
    event = ParticipantDeactivated(
        occurred_at=dt.datetime(2026, 6, 2, tzinfo=dt.UTC),
        source="x",
        nik=NIK,
        deactivated_on=JUNE_1,
        reason="DECEASED",
    )
    assert fold(Facts(NIK), None, event, POLICY)[0].next_reminder_at is None


def test_days_left_count_in_the_participants_local_time() -> None:
    wit = reactivation_window_closes_at(JUNE_1, JAYAPURA, POLICY)
    instant = dt.datetime(2026, 11, 23, 16, tzinfo=dt.UTC)  # 23 Nov 23:00 WIB, 24 Nov 01:00 WIT
    assert (days_left(CLOSES, instant), days_left(wit, instant)) == (8, 7)


moments = st.lists(
    st.datetimes(dt.datetime(2026, 6, 1), dt.datetime(2027, 2, 1), timezones=st.just(dt.UTC)), max_size=30
).map(sorted)


@given(
    st.dates(dt.date(2026, 1, 1), dt.date(2026, 9, 1)),
    st.sampled_from([NIK, JAYAPURA]),
    moments,
    st.one_of(st.none(), st.datetimes(dt.datetime(2025, 6, 1), dt.datetime(2027, 1, 1), timezones=st.just(dt.UTC))),
)
def test_reminders_never_after_close_never_twice_per_threshold_and_state_the_real_days(
    on: dt.date, nik: str, clock: list[dt.datetime], asked: dt.datetime | None
) -> None:
    facts = loaded(on, nik)
    closes = reactivation_window_closes_at(on, nik, POLICY)
    for now in clock:
        if facts.next_reminder_at is None or facts.next_reminder_at > now:
            continue
        reminder, next_at = remind(facts, POLICY, now, asked)
        assert next_at is None or next_at > now
        if reminder is not None:
            assert now <= closes  # never after the close
            assert reminder.days_left == (closes.date() - now.astimezone(closes.tzinfo).date()).days
            assert reminder.days_left <= reminder.threshold  # due: never "30 days" with 6 left
            assert next_at is None or next_at == due_at(closes, max(n for n in (30, 7) if n < reminder.days_left))
        facts = replace(facts, next_reminder_at=next_at)
    sent = sweep(loaded(on, nik), clock, asked)
    assert len(sent) <= 2 and sent == sorted(sent, reverse=True)

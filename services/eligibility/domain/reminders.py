"""Window reminders (pure): when the next one is due and what it says.

DOMAIN.md: a reminder is sent only while the window is open, only for the current deactivation (a
request in an earlier cycle does not silence it), stating the days really left; nothing to someone
who died. There is no timer row per reminder: each person's facts row holds `next_reminder_at`,
and the timer loop sweeps the rows whose moment has come (an index on that column).

The policy's thresholds (30 and 7 days) are local calendar days before the closing day: the
30-day reminder is due from 00:00 local time 30 days before the window closes. A sweep that comes
late (a list loaded 6 days before the close, a service that was down) sends one reminder with the
days really left and counts every threshold it has passed as done.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.eligibility.domain.policy import Policy
from services.eligibility.domain.rules import Facts
from services.eligibility.domain.window import reactivation_window_closes_at
from shared.timezones import zone_for_nik


@dataclass(frozen=True)
class Reminder:
    days_left: int
    threshold: int  # the smallest policy threshold it stands for (part of its event id)
    window_closes_at: dt.datetime


def days_left(closes_at: dt.datetime, now: dt.datetime) -> int:
    """Calendar days from today to the closing day, both in the participant's local time."""
    return (closes_at.date() - now.astimezone(closes_at.tzinfo).date()).days


def due_at(closes_at: dt.datetime, threshold: int) -> dt.datetime:
    """00:00 local time `threshold` days before the closing day."""
    day = closes_at.date() - dt.timedelta(days=threshold)
    return dt.datetime.combine(day, dt.time(0), tzinfo=closes_at.tzinfo)


def cycle_started_at(facts: Facts) -> dt.datetime | None:
    """00:00 local time on the current deactivation's date: a request received since then was made in
    this cycle (and silences the reminders); one received before belongs to an earlier cycle."""
    if facts.deactivated_on is None:
        return None
    return dt.datetime.combine(facts.deactivated_on, dt.time(0), tzinfo=zone_for_nik(facts.nik))


def first_reminder_at(facts: Facts, policy: Policy) -> dt.datetime | None:
    """For a new deactivation: the moment of its first reminder (possibly already past: the sweep
    then sends one with the days really left, or nothing if the window has closed)."""
    if facts.deactivated_on is None:
        return None
    return first_reminder(facts.deactivated_on, facts.nik, facts.deceased, policy)


def first_reminder(deactivated_on: dt.date, nik: str, deceased: bool, policy: Policy) -> dt.datetime | None:
    """first_reminder_at from the values (domain.facts sets it while it makes the new cycle's facts).
    Remembered by date, province (the zone) and the policy's numbers, as the window is (domain.window): a
    wave's new deactivations share a handful of dates."""
    if deceased or not policy.reminder_days_before_close:
        return None
    key = (deactivated_on, nik[:2], policy.window_months, policy.reminder_days_before_close)
    first = _FIRST.get(key)
    if first is None:
        if len(_FIRST) >= _REMEMBERED:
            _FIRST.clear()
        closes_at = reactivation_window_closes_at(deactivated_on, nik, policy)
        first = _FIRST[key] = due_at(closes_at, max(policy.reminder_days_before_close))
    return first


_REMEMBERED = 10_000
_FIRST: dict[tuple[dt.date, str, int, tuple[int, ...]], dt.datetime] = {}


def remind(
    facts: Facts, policy: Policy, now: dt.datetime, last_request_at: dt.datetime | None
) -> tuple[Reminder | None, dt.datetime | None]:
    """What a due reminder sweep does for one person: the reminder to send (or None) and when the
    next one is due (None: no more in this cycle)."""
    started = cycle_started_at(facts)
    if started is None or facts.deceased or facts.reactivated:
        return None, None
    if last_request_at is not None and last_request_at >= started:
        return None, None  # they asked in this cycle
    closes_at = reactivation_window_closes_at(facts.deactivated_on, facts.nik, policy)  # type: ignore[arg-type]
    if now > closes_at:
        return None, None  # the window has closed: nothing to remind of
    left = days_left(closes_at, now)
    passed = [n for n in policy.reminder_days_before_close if n >= left]
    later = [n for n in policy.reminder_days_before_close if n < left]
    next_at = due_at(closes_at, max(later)) if later else None
    if not passed:
        return None, next_at  # not due yet (the sweep came early)
    return Reminder(left, min(passed), closes_at), next_at

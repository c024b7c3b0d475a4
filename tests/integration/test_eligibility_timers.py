"""Durable timers on real Kafka + PostgreSQL with a driven clock: pending requests expire when the
window closes, and people who did not ask are reminded 30 and 7 days before it closes, once (the
reminder sweep over facts.next_reminder_at)."""

from __future__ import annotations

import datetime as dt

from services.eligibility.app import create_app, load_policy
from services.eligibility.domain.reminders import due_at
from services.eligibility.domain.window import reactivation_window_closes_at
from shared.events import ReactivationDecided, WindowReminderDue
from shared.settings import Settings
from shared.topics import DECISIONS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, WINDOW_REMINDERS
from testkit.apps import running
from testkit.eligibility import eligibility_settings, facts_applied
from testkit.events import NIK, NOW, deactivated, regular
from testkit.kafka import TopicReader, produce
from testkit.polling import eventually

QUIET = "3674015708900002"  # deactivated too, but never asks


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def test_pending_request_expires_and_only_silent_people_are_reminded(settings: Settings) -> None:
    closes = reactivation_window_closes_at(deactivated().deactivated_on, NIK, load_policy())
    clock = Clock(NOW)
    request = regular()
    app = create_app(eligibility_settings(settings), clock=clock, timer_interval_s=0.1)
    async with (
        running(app),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
        TopicReader(settings, settings.topic_prefix + WINDOW_REMINDERS.name) as window_reminders,
    ):
        await produce(settings, PARTICIPANT_EVENTS, deactivated(QUIET), deactivated(NIK))
        await facts_applied(settings)
        await produce(settings, REACTIVATION_REQUESTS, request)
        [pending] = await decisions.wait_for(lambda e: isinstance(e, ReactivationDecided))
        assert pending.outcome == "PENDING" and pending.window_closes_at == closes

        def reminders() -> list[tuple[str, int]]:
            return [(e.nik, e.days_left) for e in window_reminders.events if isinstance(e, WindowReminderDue)]

        clock.now = due_at(closes, 30)  # 00:00 local time, 30 days before the closing day
        await window_reminders.wait_for(lambda e: isinstance(e, WindowReminderDue))
        clock.now = due_at(closes, 7) + dt.timedelta(hours=9)
        await window_reminders.wait_for(lambda e: isinstance(e, WindowReminderDue) and e.days_left == 7)

        clock.now = closes + dt.timedelta(seconds=1)
        expired = await decisions.wait_for(lambda e: isinstance(e, ReactivationDecided) and e.outcome == "EXPIRED")
        assert expired[0].request_id == request.request_id
        assert [r.value for r in expired[0].reasons] == ["WINDOW_EXPIRED", "DESIL_UNKNOWN", "BIOMETRIC_MISSING"]

        async def relay_idle() -> bool:
            await window_reminders.poll()
            await decisions.poll()
            return app.state.relay.published == len(decisions.events) + len(window_reminders.events)

        await eventually(relay_idle)
        assert reminders() == [(QUIET, 30), (QUIET, 7)]
        assert [e.outcome for e in decisions.events] == ["PENDING", "EXPIRED"]

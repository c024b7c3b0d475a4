"""A batch in, its changes out (pure): the handlers read the rows a batch needs (people locked), hand them
to a `Batch`, call one of its steps and write the `Changes` it returns. No I/O, the clock passed in.

- `fold_facts`, then `decide_again`: participant events folded into the people's facts; the PENDING
  requests and open appeals of those whose facts changed decided again (a request is decided without
  anyone re-submitting; a fact folded again changes no facts, so it decides and publishes nothing);
  then `remind_at_once`: a new deactivation whose first reminder is already due reminds now.
- `decide_requests`: the first decision of each new request (one already on record is skipped: the
  request id is the natural key, so a redelivery or a resend changes nothing).
- `fire`, `expire`: the request timers that are due, and the PENDING requests whose window closed.
- `reminders`: the window reminders of the people whose reminder is due.
Appeals: domain.appeal_batch."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable

from services.eligibility.domain.appeal_batch import reevaluate_open
from services.eligibility.domain.facts import fold, reactivate
from services.eligibility.domain.outgoing import as_request, decision_event, event_id, sla_event
from services.eligibility.domain.policy import Policy
from services.eligibility.domain.records import AppealRecord, Changes, People, Person, RequestRecord, TimerRecord
from services.eligibility.domain.reminders import remind
from services.eligibility.domain.rules import Decision, Facts, Request, decide, decided_after, expired, redecide
from services.eligibility.domain.schedule import RECHECK, SLA_BREACH, SLA_WARNING, request_timers, sla_state
from shared.enums import Outcome, ReactivationPath, SlaState
from shared.events import ParticipantEvent, ReactivationRequested, WindowReminderDue
from shared.nik import mask_nik
from shared.topics import DECISIONS, EMERGENCY_DECISIONS, TIMER_EVENTS, WINDOW_REMINDERS

FINAL = {Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED}
SLA_KINDS = {SLA_WARNING: SlaState.WARNING, SLA_BREACH: SlaState.BREACHED}


class Batch:
    """One transaction's view: the people (locked), the requests and appeals read, and what changes."""

    def __init__(
        self,
        people: People,
        policy: Policy,
        now: dt.datetime,
        requests: Iterable[RequestRecord] = (),
        appeals: Iterable[AppealRecord] = (),
    ) -> None:
        self.people, self._before = dict(people), dict(people)
        self.policy, self.now = policy, now
        self.requests = {r.request_id: r for r in requests}
        self.appeals = {a.appeal_id: a for a in appeals}
        self.changes = Changes()

    def person(self, nik: str) -> Person:
        """The person as this batch has them; someone without a row is a blank (taken as read: nobody's
        row is the same as no row, so a fact that leaves them blank writes nothing)."""
        found = self.people.get(nik)
        if found is None:
            found = self.people[nik] = self._before[nik] = (Facts(nik), None)
        return found

    def result(self) -> Changes:
        """The changes, with the people whose facts differ from what was read."""
        before = self._before
        self.changes.people = {nik: p for nik, p in self.people.items() if p is not before[nik] and p != before[nik]}
        return self.changes

    # --- steps ----------------------------------------------------------------------------------

    def fold_facts(self, events: list[ParticipantEvent]) -> set[str]:
        """Fold the events into the people's facts, in partition order (one person's apply in sequence);
        returns the NIKs whose facts changed: only their requests and appeals can be decided otherwise."""
        for event in events:
            self.people[event.nik] = fold(*self.person(event.nik), event, self.policy)
        before = self._before
        return {nik for nik in {e.nik for e in events} if self.people[nik][0] != before[nik][0]}

    def decide_again(
        self, niks: set[str], requests: Iterable[RequestRecord], appeals: Iterable[AppealRecord]
    ) -> Changes:
        """After `fold_facts`: the PENDING requests and open appeals of these people decided again (the
        handler read those of the people on record whose facts changed)."""
        self.requests.update((r.request_id, r) for r in requests)
        self.appeals.update((a.appeal_id, a) for a in appeals)
        for record in [r for r in self.requests.values() if r.nik in niks and r.outcome == Outcome.PENDING.value]:
            self.reconsider(record)
        reevaluate_open(self, niks)
        return self.result()

    def decide_requests(self, requests: list[ReactivationRequested], on_record: set[uuid.UUID]) -> Changes:
        for request in requests:
            if request.request_id in self.requests or request.request_id in on_record:
                continue  # on record already: a redelivery, or the same request re-sent
            facts = self.person(request.nik)[0]
            rules_request = as_request(request)
            decision = decide(facts, rules_request, self.policy, self.now)  # lateness judged at receipt
            record = RequestRecord(
                request, decision.outcome.value, _values(decision), self.now, decision.window_closes_at
            )
            self.requests[request.request_id] = self.changes.new_requests[request.request_id] = record
            self._effects(record, decision, self.now, first=True, rules_request=rules_request)
        return self.result()

    def fire(self, due: list[TimerRecord]) -> Changes:
        for timer in due:
            if timer.kind not in (RECHECK, *SLA_KINDS):
                continue  # rows from before migrations 0003-0004: the sweeps do this now
            record = self.requests.get(uuid.UUID(timer.subject))
            if record is None or record.outcome != Outcome.PENDING.value:
                continue  # decided meanwhile: the clock stopped
            if timer.kind in SLA_KINDS:
                self._sla(record.event, SLA_KINDS[timer.kind], self.now)
            else:  # the grace period for a deactivation still on its way is over
                self.reconsider(record)
        return self.result()

    def expire(self) -> Changes:
        """A PENDING request whose window has closed expires with it, still naming what was missing."""
        for record in list(self.requests.values()):
            closes = record.window_closes_at
            if record.outcome == Outcome.PENDING.value and closes is not None and closes <= self.now:
                facts = self.person(record.nik)[0]
                decision = expired(facts, as_request(record.event), self.policy, closes)
                self.record(record, decision, decided_after(self.now, record.decided_at))
        return self.result()

    def reminders(self, asked: dict[str, dt.datetime]) -> Changes:
        """The reminder each person is due (what it says decided now) and when their next one is."""
        for nik in self.people:
            self.changes.next_reminders[nik] = self._remind(nik, asked.get(nik))
        return self.result()

    def reminders_due_at_once(self) -> set[str]:
        """After `fold_facts`: the people whose new deactivation's first reminder is already due (a list
        loaded less than 30 days before its window closes, or after the close)."""
        return {
            nik
            for nik, (facts, _) in self.people.items()
            if facts.next_reminder_at is not None
            and facts.next_reminder_at <= self.now
            and facts.next_reminder_at != self._before[nik][0].next_reminder_at
        }

    def remind_at_once(self, niks: set[str], asked: dict[str, dt.datetime]) -> Changes:
        """The reminders of `reminders_due_at_once`, sent (or dropped: the window closed, they asked) by the
        batch that folded the deactivation, their next moment set in the same facts row: the sweep's update of
        the row just written is saved (`asked`: the last request of each of those on record)."""
        for nik in niks:
            facts, phone = self.people[nik]
            self.people[nik] = (facts.but(next_reminder_at=self._remind(nik, asked.get(nik))), phone)
        return self.result()

    def _remind(self, nik: str, asked: dt.datetime | None) -> dt.datetime | None:
        """The reminder the person is due now, published; returns when their next one is (None: no more)."""
        facts, phone = self.people[nik]
        reminder, next_at = remind(facts, self.policy, self.now, asked)
        if reminder is not None:
            event = WindowReminderDue(
                # One per person, deactivation and threshold: a re-run of the same sweep is the same event.
                event_id=event_id("reminder", nik, facts.deactivated_on, reminder.threshold),
                occurred_at=self.now,
                source="eligibility",
                nik=nik,
                window_closes_at=reminder.window_closes_at,
                days_left=reminder.days_left,
                phone=phone,
            )
            self.changes.publish(WINDOW_REMINDERS, event, None)  # bulk work: not the urgent roles' SLA topic
        return next_at

    # --- decisions of requests on record ------------------------------------------------------------

    def reconsider(self, record: RequestRecord) -> None:
        """Decide a PENDING request again (after its window closed it expires with it: redecide);
        recorded only when something changed."""
        facts = self.person(record.nik)[0]
        decision = redecide(facts, as_request(record.event), self.policy, self.now)
        if decision.outcome is Outcome.PENDING and _values(decision) == record.reasons:
            return
        self.record(record, decision, decided_after(self.now, record.decided_at))

    def record(
        self, record: RequestRecord, decision: Decision, at: dt.datetime, appeal_id: uuid.UUID | None = None
    ) -> RequestRecord:
        """A new decision for a request on record (re-evaluation, timer, expiry, upheld appeal)."""
        new = dataclasses.replace(
            record,
            outcome=decision.outcome.value,
            reasons=_values(decision),
            decided_at=at,
            window_closes_at=decision.window_closes_at,
        )
        self.requests[new.request_id] = new
        target = self.changes.new_requests if new.request_id in self.changes.new_requests else self.changes.decided
        target[new.request_id] = new
        self._effects(new, decision, at, first=False, appeal_id=appeal_id)
        return new

    def _effects(
        self,
        record: RequestRecord,
        decision: Decision,
        at: dt.datetime,
        first: bool,
        appeal_id: uuid.UUID | None = None,
        rules_request: Request | None = None,
    ) -> None:
        """What a decision brings: its event, the SLA state, the reactivation, the timers. `rules_request`:
        the request as the rules saw it, if at hand (as_request(record.event))."""
        request = record.event
        event = decision_event(request, decision, at, appeal_id)
        self.changes.publish(DECISIONS, event, request.event_id)
        self.changes.decisions.append((request, decision, at))
        if request.path is ReactivationPath.EMERGENCY:
            # The same event again (event id, key) on the emergency lane, in the same outbox write: the urgent
            # roles read only this copy, so a wave's regular decisions never hold up a patient's; every
            # reader of the full stream (bulk roles, intake) is unchanged, and applies it once by its id.
            self.changes.publish(EMERGENCY_DECISIONS, event, request.event_id)
            state = sla_state(decision, first)
            if state is not None:
                self._sla(request, state, at)
            self.changes.notes.append(("emergency_decided", _emergency_note(request, decision)))
        if decision.outcome is Outcome.APPROVED:  # a second request of this person finds them active
            facts, phone = self.person(request.nik)
            self.people[request.nik] = (reactivate(facts, at), phone)
        if decision.outcome in FINAL:  # the clock stops: no WARNING/BREACHED after MET or CLOSED
            # A request decided for the first time has no timers, on record or set earlier in this batch (a
            # batch decides a new request once): nothing to stop, and no scan of the batch's timers per decision.
            if not first:
                subject = str(request.request_id)
                self.changes.stopped.add(subject)
                if self.changes.timers:
                    self.changes.timers = [t for t in self.changes.timers if t["subject"] != subject]
        else:  # still PENDING, for other reasons: timers it now needs (existing ones are kept)
            timers = request_timers(rules_request or as_request(request), decision, self.policy)
            if not first:  # one already due was set by an earlier PENDING decision: fired (row gone) or about to
                timers = [t for t in timers if t["due_at"] > at]
            self.changes.timers.extend(timers)

    def _sla(self, request: ReactivationRequested, state: SlaState, at: dt.datetime) -> None:
        if request.sla_deadline is not None:
            self.changes.publish(TIMER_EVENTS, sla_event(request, state, at), request.event_id)


def _values(decision: Decision) -> tuple[str, ...]:
    return tuple(map(str, decision.reasons))  # a StrEnum's str() is its value (domain.outgoing._values)


def _emergency_note(request: ReactivationRequested, decision: Decision) -> dict[str, object]:
    """Rare and urgent: each emergency decision is worth a log line (NIK masked)."""
    return {
        "request_id": str(request.request_id),
        "nik": mask_nik(request.nik),
        "outcome": decision.outcome.value,
        "reasons": list(_values(decision)),
        "cause": request.event_id,  # the handler logs its correlation id
    }

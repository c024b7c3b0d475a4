"""The chaos checker: what clients were told (202s) against what the registry and the provider hold.

A chaos wave (`plan_wave`) is a wave of deactivations (testkit.wave) plus the facts some requests need
and, for three people in ten, a reactivation request: a hospital emergency, a regular request whose desil
and biometric facts are in the wave, or a chronic-disease request with a village letter above desil 5.
`assess` then counts what must be true:

- every acknowledged event is in its participant's registry history exactly once;
- every acknowledged request has exactly one final decision (APPROVED, REJECTED or EXPIRED) in the
  registry history, and intake answers that final status for the request id;
- the provider received at most one message per person and event, and every message that must be
  sent by now (emergencies always; the rest outside quiet hours, 21:00-07:00 local) exactly once.

"Lost" = an acknowledged event missing from the history + an acknowledged request without a final
decision (or whose status intake does not show) + a due message the provider never received.
"Duplicated" = a history entry or a final decision beyond the first, and each extra copy of a
message. Nothing is taken from the services' own counters. Pure: the scenarios that read the system
are in testkit.chaos_scenarios; tests/unit/testkit/test_chaos_accounting.py checks the counting.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from services.notifier.domain.messages import NAMESPACE as MESSAGE_NAMESPACE
from services.notifier.domain.messages import QUIET_END, QUIET_START
from shared.nik import mask_nik
from shared.phone import normalize_phone
from shared.timezones import zone_for_nik
from testkit.wave import wave_events

FACILITY = "3674R001"  # the hospital the emergencies come from (registered by the scenario runner)
FINAL = {"APPROVED", "REJECTED", "EXPIRED"}
DECIDED = "reactivation.decided"
KINDS = ("deactivated", "received", "approved", "emergency_approved", "rejected", "pending", "expired")
DECISION_KINDS = ("approved", "emergency_approved", "rejected", "pending", "expired")


# ---------------------------------------------------------------------------------------------------------------
# What a scenario posts, and what clients were told


@dataclass
class Person:
    nik: str
    phone: str | None  # E.164, as the provider records it
    request: str | None  # EMERGENCY | REGULAR | CHRONIC | None


@dataclass
class Wave:
    people: dict[str, Person]
    events: list[dict[str, Any]]  # deactivations first, then the facts regular requests need

    @property
    def deactivations(self) -> set[str]:
        return {e["event_id"] for e in self.events if e["type"] == "participant.deactivated"}

    @property
    def with_request(self) -> list[Person]:
        return [p for p in self.people.values() if p.request]


@dataclass
class Acked:
    """What intake answered 202 to."""

    events: dict[str, str] = field(default_factory=dict)  # event_id -> nik
    requests: dict[str, str] = field(default_factory=dict)  # nik -> request_id


def plan_wave(n: int, seed: int, used: set[str]) -> Wave:
    """n people of a Tangerang Selatan-like wave (never someone an earlier scenario used)."""
    rng = random.Random(seed)
    today = dt.datetime.now(dt.UTC)
    deactivations = [e for e in wave_events(n, seed=seed) if e["nik"] not in used]
    people: dict[str, Person] = {}
    facts: list[dict[str, Any]] = []
    for i, e in enumerate(deactivations):
        used.add(e["nik"])
        e["event_id"] = str(uuid.uuid4())
        kind = {0: "EMERGENCY", 3: "REGULAR", 6: "CHRONIC"}.get(i % 10)
        phone = normalize_phone(e["phone"]) if e.get("phone") else None
        people[e["nik"]] = Person(e["nik"], phone, kind)
        if kind == "REGULAR":  # a DTSEN re-ranking to desil 3 and a biometric recording: approvable
            for type_, extra in (
                ("participant.desil_updated", {"desil": rng.randint(1, 5), "effective_on": today.date().isoformat()}),
                ("participant.biometric_recorded", {"recorded_on": today.date().isoformat()}),
            ):
                facts.append(
                    {
                        "event_id": str(uuid.uuid4()),
                        "type": type_,
                        "occurred_at": today.isoformat(),
                        "source": "DTSEN" if "desil" in type_ else "DUKCAPIL",
                        "nik": e["nik"],
                        **extra,
                    }
                )
    return Wave(people, deactivations + facts)


def request_body(person: Person, i: int) -> tuple[str, dict[str, Any]]:
    phone = {"phone": person.phone} if person.phone else {}
    if person.request == "EMERGENCY":
        return "/v1/hospital/emergency-reactivations", {
            "nik": person.nik,
            "facility_code": FACILITY,
            "letter_no": f"IGD/CHAOS/{i}",
            "admitted_at": dt.datetime.now(dt.UTC).isoformat(),
            **phone,
        }
    if person.request == "REGULAR":
        return "/v1/reactivations", {"nik": person.nik, "path": "REGULAR", "channel": "VILLAGE", **phone}
    return "/v1/reactivations", {
        "nik": person.nik,
        "path": "CHRONIC",
        "channel": "DINSOS",
        **phone,
        "documents": {
            "doctor_letter": {"register_no": f"SIP/{i}", "diagnosis_icd10": "E11"},
            "village_letter": {"letter_no": f"KEL/{i}", "desil": 7},  # above 5: rejected
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# Counting: acknowledged vs. held


@dataclass
class Tally:
    events: int = 0
    events_lost: int = 0
    events_duplicated: int = 0
    requests: int = 0
    requests_lost: int = 0  # no final decision in the registry, or none in intake's answer (counted once)
    requests_undecided: int = 0
    requests_decided_twice: int = 0
    request_status_missing: int = 0
    messages_due: int = 0
    messages_lost: int = 0
    messages_duplicated: int = 0
    messages_seen: int = 0
    non_urgent_checked: bool = True
    caught_up_in_time: bool = True
    examples: list[str] = field(default_factory=list)  # a few problems, for the report (NIKs masked)
    incomplete: set[str] = field(default_factory=set)  # NIKs whose events, decision or status are still missing

    def example(self, nik: str, problem: str, history: list[dict[str, Any]] | None, status: str | None = None) -> None:
        if len(self.examples) < 8:
            steps = [
                f"{h.get('event_type')}->{h.get('status')}{h.get('reasons') or ''}"
                + (f"@{hms(h.get('occurred_at'))}" if h.get("event_type") == DECIDED else "")
                for h in history or []
            ]
            self.examples.append(f"{mask_nik(nik)} {problem} (intake: {status}; history: {steps})")

    @property
    def lost(self) -> int:
        return self.events_lost + self.requests_lost + self.messages_lost

    @property
    def duplicated(self) -> int:
        return self.events_duplicated + self.requests_decided_twice + self.messages_duplicated

    @property
    def caught_up(self) -> bool:
        return self.lost == 0

    def detail(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "incomplete"}


def hms(stamp: Any) -> str:
    """HH:MM:SS.mmm of an RFC 3339 time (UTC as the services write it), for examples."""
    return str(stamp)[11:23] if stamp else "-"


def message_refs(event_id: str, kinds: tuple[str, ...] = KINDS) -> set[str]:
    """The notifier's message ids for an event (one message per event and kind, `uuid5(event_id:kind)`),
    which the provider receives as the message's reference (WhatsApp biz_opaque_callback_data)."""
    return {str(uuid.uuid5(MESSAGE_NAMESPACE, f"{event_id}:{kind}")) for kind in kinds}


def daytime(people: list[Person], at: dt.datetime) -> bool:
    """Outside the notifier's quiet hours for everybody (5 minutes of margin): non-urgent messages go out."""
    margin = dt.timedelta(minutes=5)
    for p in people:
        local = at.astimezone(zone_for_nik(p.nik))
        start = local.replace(hour=QUIET_END.hour, minute=QUIET_END.minute, second=0, microsecond=0) + margin
        end = local.replace(hour=QUIET_START.hour, minute=QUIET_START.minute, second=0, microsecond=0) - margin
        if not start <= local < end:
            return False
    return True


def assess(
    wave: Wave,
    acked: Acked,
    histories: dict[str, list[dict[str, Any]] | None],
    statuses: dict[str, str | None],
    messages: list[dict[str, Any]],
    non_urgent_due: bool,
) -> Tally:
    t = Tally(events=len(acked.events), requests=len(acked.requests), non_urgent_checked=non_urgent_due)
    by_person: dict[str, list[str]] = defaultdict(list)
    for event_id, nik in acked.events.items():
        by_person[nik].append(event_id)
    deactivations = wave.deactivations

    # 1. Events: each acknowledged one exactly once in its person's history; no history entry twice.
    final_decision: dict[str, list[dict[str, Any]]] = {}
    for nik in wave.people:
        history = histories.get(nik)
        seen = Counter(str(h.get("event_id")) for h in history or [])
        missing = [e for e in by_person.get(nik, []) if seen[e] == 0]
        t.events_lost += len(missing)
        twice = sum(c - 1 for c in seen.values() if c > 1)
        t.events_duplicated += twice
        if history is not None and (missing or twice):
            t.example(nik, f"{len(missing)} events missing, {twice} twice", history)
        final_decision[nik] = [
            h for h in history or [] if h.get("event_type") == DECIDED and h.get("status") != "REACTIVATION_PENDING"
        ]
        if missing or history is None:
            t.incomplete.add(nik)

    # 2. Requests: exactly one final decision in the registry, and intake shows a final status.
    for nik, request_id in acked.requests.items():
        finals = final_decision.get(nik, [])
        status = statuses.get(request_id)
        if not finals:
            t.requests_undecided += 1
            t.incomplete.add(nik)
        t.requests_decided_twice += max(0, len(finals) - 1)
        if status not in FINAL:
            t.request_status_missing += 1
            t.incomplete.add(nik)
        t.requests_lost += int(not finals or status not in FINAL)
        if len(finals) != 1 or status not in FINAL:
            intake = f"{status}, {statuses.get(f'{request_id}:times')}"
            t.example(nik, f"{wave.people[nik].request} request {request_id}", histories.get(nik), intake)

    # 3. Messages the provider holds for these people: at most one per (person, event)...
    phones = {p.phone for p in wave.people.values() if p.phone}
    mine = [m for m in messages if m.get("to") in phones]
    t.messages_seen = len(mine)
    copies = Counter(m.get("reference") or f"{m.get('to')}|{m.get('text')}" for m in mine)
    t.messages_duplicated = sum(c - 1 for c in copies.values() if c > 1)
    # ...and exactly one of each message due by now: the request's and its final decision's for
    # emergencies (urgent: sent at once), the deactivation's, request's and decision's for the rest
    # when outside quiet hours.
    for nik, person in wave.people.items():
        if not person.phone:
            continue
        urgent = person.request == "EMERGENCY"
        due: list[set[str]] = []
        if non_urgent_due:
            due += [message_refs(e, ("deactivated",)) for e in by_person.get(nik, []) if e in deactivations]
        request_id = acked.requests.get(nik)
        if request_id and (urgent or non_urgent_due):
            due.append(message_refs(str(uuid.uuid5(uuid.UUID(request_id), "requested")), ("received",)))
            for h in final_decision.get(nik, [])[:1]:
                due.append(message_refs(str(h["event_id"]), DECISION_KINDS))
        for refs in due:
            t.messages_due += 1
            if not any(copies.get(r) for r in refs):
                t.messages_lost += 1
                t.example(nik, f"message {sorted(refs)[0]}.. not at the provider", histories.get(nik))
    for ref, c in copies.items():
        if c > 1 and len(t.examples) < 8:
            at = [
                str(m.get("at", "?"))[11:23]
                for m in mine
                if (m.get("reference") or f"{m.get('to')}|{m.get('text')}") == ref
            ]
            t.examples.append(f"message {ref[:36]} received {c} times, at {', '.join(at)} UTC")
    return t

"""What a batch of consumed events asks of the notifier (pure): the numbers to keep on file, the messages
to queue (the intents the sender works from), who could not be told and why, and which events need no
inbox row because their own message row, keyed by event and kind, is written once.

A message for someone whose deactivation (the event that carries the number) has not arrived yet waits
for the number (WAITING): facts and decisions are separate consumer groups, so a decision can overtake the
deactivation. When the number is filed the waiting messages are queued (`release`); when the deactivation
comes without one, they are closed as untold."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field

from services.notifier.domain.delivery import WHATSAPP, Action, action_for, first_channel
from services.notifier.domain.messages import Message, message_for, send_after
from shared.events import Event


@dataclass(frozen=True, slots=True)
class OnFile:
    """A person's contact as the notifier holds it."""

    phone: str | None
    opted_out: bool = False
    on_whatsapp: bool | None = None  # None: unknown (try WhatsApp); False: WhatsApp refused the number


@dataclass(frozen=True, slots=True)
class Intent:
    """One message to queue: QUEUED, or SKIPPED when the number opted out."""

    message: Message
    phone: str
    channel: str
    skipped: bool
    send_after: dt.datetime
    event_id: uuid.UUID
    waiting: bool = False  # no number yet (phone ""): queued when the person's number is filed


@dataclass(frozen=True, slots=True)
class Waiting:
    """A message row waiting for its person's number."""

    message_id: uuid.UUID
    nik: str
    kind: str
    urgent: bool


@dataclass(frozen=True, slots=True)
class Released:
    """A waiting message as it goes on: QUEUED (or SKIPPED, opted out) to the number now on file, or
    SKIPPED with no number when the person's deactivation came without one."""

    message_id: uuid.UUID
    phone: str
    channel: str
    state: str
    send_after: dt.datetime
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Untold:
    """Someone a message was for who cannot be told: no number, or one that is no mobile (`why`)."""

    event_id: uuid.UUID
    nik: str
    kind: str
    why: str


@dataclass
class Plan:
    intents: list[Intent] = field(default_factory=list)
    untold: list[Untold] = field(default_factory=list)

    def applied(self, event_ids: Set[uuid.UUID]) -> Plan:
        """The plan of the events applied now (a redelivered one's message is already on record)."""
        return Plan(
            [i for i in self.intents if i.event_id in event_ids], [u for u in self.untold if u.event_id in event_ids]
        )

    @property
    def not_sent(self) -> Counter[tuple[str, str]]:
        """(kind, why) -> people: opted out (their message SKIPPED), no number, or an unusable one."""
        skipped = Counter((i.message.kind, "opted_out") for i in self.intents if i.skipped)
        return skipped + Counter((u.kind, u.why) for u in self.untold)

    @property
    def waiting(self) -> int:
        """Messages kept until the person's number arrives."""
        return sum(1 for i in self.intents if i.waiting)


def phones_given(events: Iterable[Event]) -> dict[str, str]:
    """NIK -> the number its latest event of the batch gives (the number on file follows arrival)."""
    return {e.nik: p for e in events if (p := getattr(e, "phone", None))}


def admitted(events: Sequence[Event], keyed: Set[uuid.UUID], claimed: Sequence[Event]) -> list[Event]:
    """The batch to apply, in its order: the events whose message row was written now (its key, derived
    from the event, makes that row the event's claim) and those the inbox claimed now (not applied before)."""
    claimed_ids = {e.event_id for e in claimed}
    return [e for e in events if e.event_id in keyed or e.event_id in claimed_ids]


def plan(
    events: Sequence[Event],
    on_file: Mapping[str, OnFile],
    stopped: set[str],
    now: dt.datetime,
    awaiting: Set[str] = frozenset(),
) -> Plan:
    """The messages the batch deserves, to the numbers on file; a person without a usable number is counted
    (a landline or junk number never reaches `phone`: counted apart), an opted-out number gets SKIPPED.
    `awaiting`: people whose number may still come (their deactivation not seen yet): their messages wait."""
    result = Plan()
    for event in events:
        message = message_for(event)
        if message is None:
            continue
        contact = on_file.get(event.nik)
        if contact is None or not contact.phone:
            why = "phone_unusable" if getattr(event, "phone_status", None) else "no_phone"
            if why == "no_phone" and event.nik in awaiting:
                result.intents.append(Intent(message, "", WHATSAPP, False, now, event.event_id, waiting=True))
                continue
            result.untold.append(Untold(event.event_id, event.nik, message.kind, why))
            continue
        opted_out = contact.opted_out or contact.phone in stopped  # BERHENTI by NIK or by number
        result.intents.append(
            Intent(
                message,
                contact.phone,
                first_channel(contact.on_whatsapp),
                action_for(opted_out) is Action.SKIP,
                send_after(message.nik, message.urgent, now),
                event.event_id,
            )
        )
    return result


NO_NUMBER = "no number: the deactivation came without one"


def release(
    waiting: Iterable[Waiting],
    on_file: Mapping[str, OnFile],
    stopped: set[str],
    deactivated: Set[str],
    now: dt.datetime,
) -> tuple[list[Released], Counter[tuple[str, str]]]:
    """Waiting messages whose person now has a number on file, queued to it (quiet hours, opt-out and
    channel as for any message); those whose person's deactivation (`deactivated`: seen in this batch)
    brought no number, closed as untold and counted. The others keep waiting."""
    released: list[Released] = []
    untold: Counter[tuple[str, str]] = Counter()
    for w in waiting:
        contact = on_file.get(w.nik)
        if contact is not None and contact.phone:
            opted_out = contact.opted_out or contact.phone in stopped
            state = "SKIPPED" if action_for(opted_out) is Action.SKIP else "QUEUED"
            channel, due = first_channel(contact.on_whatsapp), send_after(w.nik, w.urgent, now)
            released.append(Released(w.message_id, contact.phone, channel, state, due, None))
        elif w.nik in deactivated:
            released.append(Released(w.message_id, "", WHATSAPP, "SKIPPED", now, NO_NUMBER))
            untold[(w.kind, "no_phone")] += 1
    return released, untold

"""Sends queued messages exactly once per event, as far as providers allow.

1. claim due QUEUED rows (FOR UPDATE SKIP LOCKED) and mark them SENDING (attempt counted), committed;
2. call the provider (WhatsApp first, SMS when WhatsApp refuses for good), with tenacity retries on
   timeouts/429/5xx; our message id travels as the provider's reference (WhatsApp
   biz_opaque_callback_data, Twilio StatusCallback ?ref=), so receipts name the message;
3. record SENT with the provider's id and announce NotificationUpdated, through the notifier's outbox in
   the same transaction (a FAILED message's dead letter too): the relay publishes them (shared.outbox).
   A claim's outcomes (sent, requeued, failed) are recorded together, one UPDATE ... FROM unnest and one
   outbox insert, and the relay woken once: a claim holds what the providers' rate lets go in about a
   second (issue 20: a transaction and a relay wake-up per message were most of the sender's CPU).
A crash between 2 and 3 leaves a SENDING row. reconcile() (at start and every 30 s, for rows SENDING
longer than `stale_after`) asks the provider whether it has the message (WhatsApp: by reference where the
endpoint can say so - the simulator; Twilio: list by number and body) and records SENT, else requeues it.
A receipt webhook naming our reference also settles a SENDING row (api.py).
Remaining window of doubt: a provider that accepted the message but cannot be asked (real WhatsApp Cloud
API has no lookup) and whose receipt never arrives -> the message is sent a second time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import Boolean, column, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from services.notifier import metrics
from services.notifier.domain.delivery import after_permanent_failure, obeys_opt_out
from services.notifier.domain.messages import held_until, send_after
from services.notifier.providers import PermanentError, Provider, TransientError
from services.notifier.store import SCHEMA, C, M, outbox
from shared import correlation
from shared.db import lock_in_order, transaction
from shared.events import NotificationUpdated
from shared.masking import mask_personal_data
from shared.nik import mask_nik
from shared.outbox import add_to_outbox, outbox_row
from shared.settings import Role
from shared.topics import NOTIFICATION_EVENTS, TopicSpec

log = structlog.get_logger(__name__)
AMBIGUOUS = "ambiguous: "  # last_error prefix: the provider may have the message
# How long a delivery state's announcement may wait for the relay (wake_relay_soon): the claims and receipt
# webhooks of that time share one relay pass. A pass of their own (read, publish, delete, two commits) cost
# notifier-urgent about 2 CPU ms a webhook, a third of what a delivery receipt cost it; an emergency's two
# messages took two passes for their SENT and one or two for their DELIVERED (issue 20). Nobody waits on these:
# the registry mirrors them in its bulk role.
ANNOUNCE_WITHIN_S = 0.25
Clock = Callable[[], dt.datetime]


class QuietHours(Exception):
    """Quiet hours began between the claim and the provider call: the attempt is put back, not spent."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"quiet hours until {until.isoformat()}")
        self.until = until


class RateLimit:
    """A token bucket per provider. A caller beyond the burst reserves the next free slot (the bucket goes
    below zero) and sleeps once until it: waiting callers never wake each other to re-check."""

    def __init__(self, per_s: float) -> None:
        self.per_s, self.tokens, self.at = per_s, per_s, time.monotonic()

    async def take(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.per_s, self.tokens + (now - self.at) * self.per_s) - 1
        self.at = now
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.per_s)


# A claim's outcomes, one statement: every column a delivery may change, per message. A receipt that came
# before the outcome is recorded (the provider's webhook can beat it) has moved the row on from SENDING:
# its state stands.
_RECORD = text(
    f"update {SCHEMA}.messages m set state = case when m.state = 'SENDING' then u.state else m.state end, "
    "channel = u.channel, provider_message_id = coalesce(u.provider_message_id, m.provider_message_id), "
    "attempts = u.attempts, send_after = u.send_after, "
    "last_error = u.last_error, updated_at = u.updated_at "
    "from unnest(cast(:ids as uuid[]), cast(:states as text[]), cast(:channels as text[]), "
    "cast(:providers as text[]), cast(:attempts as int[]), cast(:send_after as timestamptz[]), "
    "cast(:errors as text[]), cast(:updated as timestamptz[])) "
    "as u(message_id, state, channel, provider_message_id, attempts, send_after, last_error, updated_at) "
    "where m.message_id = u.message_id"
)
# The claim's rows locked in message id order before _RECORD: an UPDATE ... FROM unnest locks them in whatever
# order its plan meets them, and a webhook's receipts (api._locked, message id order) locking the same two
# messages the other way round deadlocked (one of them answered 500, or the claim was left SENDING).
_LOCK_IN_ORDER = lock_in_order(f"{SCHEMA}.messages", "message_id")
Outcome = tuple[dict[str, Any], list[dict[str, Any]]]  # the message row as it ends, its outbox rows
# The claim, one statement: the oldest due QUEUED messages, urgent ones first, locked (others' claims skipped)
# and marked SENDING (an attempt counted), returned with whether their number opted out. Two range scans of the
# queue's index (state, urgent, send_after) in its own order, however long the queue: one ORDER BY urgent DESC,
# send_after sorted every due message at every claim (205 ms a claim with a 100,000-person wave's notices
# queued). The ids are taken first (an array: the scans run once) and then updated by primary key; RETURNING
# gives them in that key's order, so the caller sorts them again. One statement instead of a select per
# urgency, one of the opt-outs and the update: an emergency's message took six round trips to claim (issue 20).
# `:urgent_ones` / `:regular_ones`: the kinds this sender claims (Sender's role); a false one skips its scan.
_CLAIM = text(
    f"update {SCHEMA}.messages m set state = 'SENDING', attempts = m.attempts + 1, updated_at = :now "
    "where m.message_id = any(array(select message_id from "
    f"(select message_id from {SCHEMA}.messages where :urgent_ones and state = 'QUEUED' and urgent = true "
    "and send_after <= :now order by send_after limit :limit for update skip locked) u "
    f"union all select message_id from (select message_id from {SCHEMA}.messages where :regular_ones "
    "and state = 'QUEUED' and urgent = false and send_after <= :now order by send_after limit :limit "
    "for update skip locked) n limit :limit)) "
    f"returning {', '.join('m.' + c.name for c in M.c)}, "
    f"exists(select from {SCHEMA}.opt_outs o where o.phone = m.phone and o.opted_out) as opted_out"
).columns(*M.c, column("opted_out", Boolean))


# What a claim gives back, in its transaction (rare): a message held by quiet hours to the queue, its attempt not
# spent (stopped: cancelled; a message to a number that opted out is SKIPPED, its attempt not spent either).
_GIVE_BACK = text(
    f"update {SCHEMA}.messages set state = 'QUEUED', attempts = attempts - 1, send_after = :until "
    "where message_id = any(cast(:ids as uuid[])) and state = 'SENDING'"
)
_CANCEL = text(
    f"update {SCHEMA}.messages set state = 'SKIPPED', attempts = attempts - 1, "
    "last_error = 'opted out (BERHENTI/STOP)', updated_at = :now where message_id = any(cast(:ids as uuid[]))"
)


async def claim_due(session: AsyncSession, now: dt.datetime, limit: int, role: Role = Role.ALL) -> list[dict[str, Any]]:
    """Up to `limit` due messages of `role`'s kinds (Sender), urgent ones first, each kind oldest first, now
    SENDING with their attempt counted; `opted_out`: their number said BERHENTI. The caller's transaction
    holds them."""
    params = {"now": now, "limit": limit, "urgent_ones": role.runs_urgent, "regular_ones": role.runs_bulk}
    rows = [dict(r) for r in (await session.execute(_CLAIM, params)).mappings()]
    rows.sort(key=lambda r: (not r["urgent"], r["send_after"]))
    return rows


class Sender:
    """Sends the messages of its process's role: urgent ones (an emergency's notices, on-call escalations, an
    answer a person waits for) in an urgent process, the rest (a wave's notices, reminders) in a bulk one, both
    in an `all` one. A wave's notices went out of the urgent process, at the providers' rate with their
    receipts, and took a steady share of the CPU at the urgent processes' priority (issue 20)."""

    # What it writes, through the outbox: each message's delivery state (`announcement`, the receipts' too), and
    # a message that finally failed also as a dead letter (`_dead_letter`). app.py declares these (AsyncAPI).
    topics: tuple[TopicSpec, ...] = (NOTIFICATION_EVENTS,)
    dead_letters: tuple[TopicSpec, ...] = (NOTIFICATION_EVENTS,)

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        whatsapp: Provider,
        sms: Provider,
        wake_relay: Callable[[], None],
        prefix: str,
        clock: Clock,
        rate_per_s: float,
        max_attempts: int,
        retry_wait_s: float = 0.2,
        stale_after: dt.timedelta = dt.timedelta(minutes=2),
        ambiguous_wait: dt.timedelta = dt.timedelta(seconds=20),
        role: Role = Role.ALL,
    ) -> None:
        self.role = role
        # Announcements go through the outbox: after committing some, the relay is woken to publish them.
        self.sessions, self.wake_relay, self.prefix, self.clock = sessions, wake_relay, prefix, clock
        self.providers = {"WHATSAPP": whatsapp, "SMS": sms}
        self.limits = {name: RateLimit(rate_per_s) for name in self.providers}
        self.max_attempts, self.retry_wait_s = max_attempts, retry_wait_s
        # What one claim takes: about a second of the providers' rate (at least 1, at most 50).
        self.claim_size = max(1, min(50, int(rate_per_s)))
        # Longer than one delivery can take (3 tries x 15 s timeout + backoff): a SENDING row older than
        # this belongs to a sender that died (this process before a restart, or another instance).
        self.stale_after = stale_after
        # After a timeout the provider may still be working on the message: ask it (lookup) only
        # this much later, or a message it records late would be sent twice.
        self.ambiguous_wait = ambiguous_wait
        self.pass_every_s = 1.0  # a pass without a wake-up: messages that fell due (retries, 07:00 local)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._relay_soon: asyncio.TimerHandle | None = None  # wake_relay_soon's pending wake-up
        # Passes run with reconcile (every 30 s) that may queue messages: the release of WAITING messages
        # whose number was filed beside the batch that queued them (handlers.release_numbered, app.py).
        self.sweeps: list[Callable[[], Awaitable[int]]] = []

    @property
    def _urgency(self) -> tuple[bool, ...]:
        """The values of `messages.urgent` this sender sends (and reconciles)."""
        return (True,) * self.role.runs_urgent + (False,) * self.role.runs_bulk

    def add_provider(self, provider: Provider) -> None:
        """One more channel (the escalation webhook), rate-limited like the others."""
        self.providers[provider.channel] = provider
        self.limits[provider.channel] = RateLimit(next(iter(self.limits.values())).per_s)

    def wake(self) -> None:
        self._wake.set()

    def wake_relay_soon(self) -> None:
        """The relay woken within ANNOUNCE_WITHIN_S, once however many ask meanwhile: the sender's claims and
        reconciliations, the receipts' webhooks (api.py)."""
        if self._relay_soon is None:
            self._relay_soon = asyncio.get_running_loop().call_later(ANNOUNCE_WITHIN_S, self._wake_relay_now)

    def _wake_relay_now(self) -> None:
        self._relay_soon = None
        self.wake_relay()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier-sender")

    async def stop(self) -> None:
        if self._relay_soon is not None:  # what it would have announced stays in the outbox for the relay
            self._relay_soon.cancel()
            self._relay_soon = None
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        next_reconcile = 0.0
        while True:
            try:
                if time.monotonic() >= next_reconcile:
                    await self.reconcile()
                    for sweep in self.sweeps:
                        await sweep()
                    next_reconcile = time.monotonic() + 30
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - rows stay queued; try again
                log.warning("sender_failed", error=type(exc).__name__, detail=str(exc)[:200])
            try:  # asyncio.timeout: 3.11's wait_for can swallow a cancellation that meets a wake-up
                async with asyncio.timeout(self.pass_every_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def drain(self) -> int:
        """Claims until a claim comes back short: that claim found no more due messages. A message queued
        meanwhile wakes the sender (`wake`), one that falls due later is found by the next pass. Claiming
        again after a short claim found nothing but cost a transaction (two range scans) per claim: most of
        an emergency's claims are one message (issue 20). Returns how many messages were claimed."""
        claimed = 0
        while True:
            n = await self.send_due()
            claimed += n
            if n < self.claim_size:
                return claimed

    async def reconcile(self) -> int:
        """Messages left SENDING by a crash (older than `stale_after`): the provider has them (lookup by
        our reference, or by number and text) -> SENT; otherwise back to QUEUED to be sent again.
        Returns how many were resolved as already sent."""
        stale = self.clock() - self.stale_after
        resolved_rows: list[dict[str, Any]] = []
        announcements: list[dict[str, Any]] = []
        async with transaction(self.sessions) as session:
            rows = (
                (
                    await session.execute(
                        select(M)
                        .where(M.c.state == "SENDING", M.c.updated_at <= stale, M.c.urgent.in_(self._urgency))
                        .with_for_update(skip_locked=True)
                    )
                )
                .mappings()
                .all()
            )
            for row in rows:
                provider_id = await self.providers[row["channel"]].lookup(
                    str(row["message_id"]), row["phone"], row["text"]
                )
                if provider_id:
                    # A lookup by number and text could find another message with the same text:
                    # one already recorded for a different row is not this one.
                    taken = await session.scalar(
                        select(M.c.message_id).where(
                            M.c.provider_message_id == provider_id, M.c.message_id != row["message_id"]
                        )
                    )
                    provider_id = None if taken else provider_id
                if provider_id:
                    await session.execute(
                        update(M)
                        .where(M.c.message_id == row["message_id"])
                        .values(state="SENT", provider_message_id=provider_id, updated_at=self.clock())
                    )
                    resolved_rows.append(dict(row))
                    announcements += self.announcement(row, "SENT")
                    log.info("reconciled_as_sent", nik=_masked(row["nik"]), kind=row["kind"])
                else:
                    now = self.clock()  # sent again at once, or when quiet hours end (07:00 local)
                    again = send_after(row["nik"], row["urgent"], now)
                    await session.execute(
                        update(M)
                        .where(M.c.message_id == row["message_id"])
                        .values(state="QUEUED", send_after=again, updated_at=now)
                    )
                    log.info("reconciled_for_resend", nik=_masked(row["nik"]), kind=row["kind"])
            await add_to_outbox(session, outbox, announcements, skip_waiting=True)
        for settled in resolved_rows:
            metrics.SENT.labels(settled["channel"], settled["kind"]).inc()
        if announcements:
            self.wake_relay_soon()
        return len(resolved_rows)

    async def send_due(self, limit: int | None = None) -> int:
        limit = limit or self.claim_size
        now = self.clock()
        async with transaction(self.sessions) as session:
            rows = await claim_due(session, now, limit, self.role)
            # An opt-out is honoured here too: a message queued while BERHENTI was being recorded
            # (the handler read the number as not opted out) is cancelled at its claim, never sent.
            stopped = {r["message_id"] for r in rows if r.pop("opted_out") and obeys_opt_out(r["kind"])}
            if stopped:
                await session.execute(_CANCEL, {"ids": list(stopped), "now": now})
                metrics.CANCELLED.inc(len(stopped))
            # Quiet hours are checked at every claim, whatever queued the row (first send, retry, crash recovery):
            # a row due at night goes back to the queue, its attempt not spent, until 07:00 local. (A cancelled
            # one stays cancelled: its attempt is given back once.)
            held = {
                r["message_id"]: until
                for r in rows
                if r["message_id"] not in stopped and (until := held_until(r["nik"], r["urgent"], now))
            }
            for until in set(held.values()):  # one statement per zone's 07:00
                ids = [message_id for message_id, at in held.items() if at == until]
                await session.execute(_GIVE_BACK, {"ids": ids, "until": until})
            due = [r for r in rows if r["message_id"] not in held and r["message_id"] not in stopped]
            if held:
                metrics.HELD.inc(len(held))
        ended = await asyncio.gather(*(self._deliver(r) for r in due), return_exceptions=True)
        # What ended is recorded even when another delivery of the claim broke (that one stays SENDING,
        # for reconcile): a sent message left unrecorded could be sent twice.
        await self._record([e for e in ended if not isinstance(e, BaseException)])
        for broke in (e for e in ended if isinstance(e, BaseException)):
            raise broke
        return len(rows)

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        """The claim's outcomes and their announcements, in one transaction."""
        if not outcomes:
            return
        now, rows = self.clock(), [row for row, _ in outcomes]
        announcements = [a for _, row_announcements in outcomes for a in row_announcements]
        async with transaction(self.sessions) as session:
            if len(rows) > 1:  # one row is taken in no order: most of an emergency's claims are one message
                await session.execute(_LOCK_IN_ORDER, {"ids": [r["message_id"] for r in rows]})
            await session.execute(
                _RECORD,
                {
                    "ids": [r["message_id"] for r in rows],
                    "states": [r["state"] for r in rows],
                    "channels": [r["channel"] for r in rows],
                    "providers": [r.get("provider_message_id") for r in rows],
                    "attempts": [r["attempts"] for r in rows],
                    "send_after": [r["send_after"] for r in rows],
                    "errors": [r.get("last_error") for r in rows],
                    "updated": [now] * len(rows),
                },
            )
            await add_to_outbox(session, outbox, announcements, skip_waiting=True)
        if announcements:
            self.wake_relay_soon()

    async def _deliver(self, row: dict[str, Any]) -> Outcome:
        if cid := row.get("correlation_id"):
            with correlation.bound(cid):  # log lines of this message carry the request's correlation id
                return await self._deliver_now(row)
        return await self._deliver_now(row)

    async def _deliver_now(self, row: dict[str, Any]) -> Outcome:
        """Sends the claimed message; returns how it ends (recorded with the claim's others by _record)."""
        channel = row["channel"]
        try:
            provider_id = await self._attempt(channel, row)
        except QuietHours as quiet:  # the claim's attempt is given back: it never reached a provider
            metrics.HELD.inc()
            return {**row, "state": "QUEUED", "send_after": quiet.until, "attempts": row["attempts"] - 1}, []
        except PermanentError as exc:
            fallback = after_permanent_failure(channel)
            if fallback is not None:  # e.g. not on WhatsApp: SMS instead, and SMS first from now on
                row["channel"], row["last_error"] = fallback, str(exc)[:300]
                async with transaction(self.sessions) as session:
                    if not row["kind"].startswith("escalation_"):  # an on-call number is not the person's
                        await session.execute(update(C).where(C.c.nik == row["nik"]).values(on_whatsapp=False))
                    await session.execute(
                        update(M)
                        .where(M.c.message_id == row["message_id"])
                        .values(channel=fallback, last_error=str(exc)[:300], updated_at=self.clock())
                    )
                return await self._deliver_now(row)
            return self._fail(row, f"permanent: {exc}")
        except TransientError as exc:
            if row["attempts"] >= self.max_attempts:
                return self._fail(row, f"gave up after {row['attempts']} attempts: {exc}")
            # 30 s, 2 min, 8 min, 32 min...: a provider outage of about an hour before the dead letter.
            backoff = dt.timedelta(seconds=min(3600, 30 * 4 ** (row["attempts"] - 1)))
            if exc.ambiguous:  # the provider may have it: ask once it surely finished, not later
                # Doubled at every ambiguous try: a provider far behind (chaos `leader`, load 50) had not
                # read the first send when asked 20 s later, answered "unknown" and got it two or three times.
                backoff = min(dt.timedelta(hours=1), self.ambiguous_wait * 2 ** (row["attempts"] - 1))
            error = (AMBIGUOUS if exc.ambiguous else "") + str(exc)[:300]
            again = send_after(row["nik"], row["urgent"], self.clock() + backoff)  # a retry keeps quiet hours too
            return {**row, "state": "QUEUED", "send_after": again, "last_error": error}, []
        metrics.SENT.labels(channel, row["kind"]).inc()
        # last_error kept: why SMS
        return {**row, "state": "SENT", "provider_message_id": provider_id}, self.announcement(row, "SENT")

    async def _attempt(self, channel: str, row: dict[str, Any]) -> str:
        provider, reference = self.providers[channel], str(row["message_id"])
        # An earlier claim ended in a timeout that may have reached this provider: ask first.
        ask_first = str(row.get("last_error") or "").startswith(AMBIGUOUS)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(3),
            reraise=True,
            wait=wait_exponential(multiplier=self.retry_wait_s, max=2),
            # An ambiguous failure (a timeout) is not retried here: it goes back to the queue and is
            # looked up after ambiguous_wait (see _deliver_now).
            retry=retry_if_exception(lambda exc: isinstance(exc, TransientError) and not exc.ambiguous),
        ):
            with attempt:
                if ask_first:
                    # The last try timed out after it may have reached the provider: ask before resending.
                    found = await provider.lookup(reference, row["phone"], row["text"])
                    if found:
                        return found
                await self.limits[channel].take()
                # The last check before a provider is called (the claim may be seconds old: retries,
                # fallback, rate limit): nothing non-urgent leaves at 21:00-07:00 local.
                if until := held_until(row["nik"], row["urgent"], self.clock()):
                    raise QuietHours(until)
                try:
                    return await asyncio.wait_for(provider.send(row["phone"], row["text"], reference), 30)
                except TimeoutError as exc:
                    metrics.FAILED.labels(channel, "timeout").inc()
                    ask_first = True
                    raise TransientError("send timed out", ambiguous=True) from exc
                except TransientError as exc:
                    metrics.FAILED.labels(channel, "timeout" if exc.ambiguous else "transient").inc()
                    ask_first = exc.ambiguous
                    raise
                except PermanentError:
                    metrics.FAILED.labels(channel, "permanent").inc()
                    raise
        raise AssertionError("unreachable")

    def _fail(self, row: dict[str, Any], reason: str) -> Outcome:
        reason = mask_personal_data(reason)  # a provider's error body may name the phone number
        metrics.FAILED.labels(row["channel"], "dead_letter").inc()
        log.warning("message_failed", nik=_masked(row["nik"]), kind=row["kind"], reason=reason[:200])
        return {**row, "state": "FAILED", "last_error": reason[:300]}, self._dead_letter(row, reason)

    def _dead_letter(self, row: dict[str, Any], reason: str) -> list[dict[str, Any]]:
        """What finally fails goes to the dead-letter topic with the reason, for operations to act on, and is
        announced FAILED. A general answer to a number has no person's record to act on: nothing."""
        if row["nik"] is None:
            return []
        event = self._event(row, "FAILED", reason)
        dead = outbox_row(
            self.prefix + self.dead_letters[0].dlq,
            event,
            {"x-dlq-reason": reason[:500]},
            correlation_id=row.get("correlation_id"),
        )
        # The same event is announced too: its dead-letter copy takes an outbox id of its own.
        return [
            {**dead, "event_id": uuid.uuid5(event.event_id, "dlq")},
            *self.announcement(row, "FAILED", event=event),
        ]

    def _event(self, row: dict[str, Any], state: str, reason: str | None = None) -> NotificationUpdated:
        return NotificationUpdated(
            event_id=uuid.uuid5(row["message_id"], state),
            occurred_at=self.clock(),
            source="notifier",
            nik=row["nik"],
            message_id=row["message_id"],
            kind=row["kind"],
            channel=row["channel"],
            state=state,
            reason=reason,
        )

    def announcement(
        self, row: dict[str, Any], state: str, reason: str | None = None, *, event: NotificationUpdated | None = None
    ) -> list[dict[str, Any]]:
        """The outbox row announcing the message's new state (NotificationUpdated, key: the NIK), with the
        correlation id of the request that caused the message. A general answer (no person): none."""
        if row["nik"] is None:
            return []
        event = event or self._event(row, state, reason)
        return [outbox_row(self.prefix + self.topics[0].name, event, correlation_id=row.get("correlation_id"))]


def _masked(nik: str | None) -> str | None:
    return mask_nik(nik) if nik else None

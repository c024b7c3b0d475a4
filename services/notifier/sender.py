"""Sends queued messages exactly once per event, as far as providers allow.

1. claim due QUEUED rows (FOR UPDATE SKIP LOCKED) and mark them SENDING (attempt counted), committed;
2. call the provider (WhatsApp first, SMS when WhatsApp refuses for good), with tenacity retries on
   timeouts/429/5xx; our message id travels as the provider's reference (WhatsApp
   biz_opaque_callback_data, Twilio StatusCallback ?ref=), so receipts name the message;
3. record SENT with the provider's id and announce NotificationUpdated, through the notifier's outbox in
   the same transaction (a FAILED message's dead letter too): the relay publishes them (shared.outbox).
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
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from services.notifier import metrics
from services.notifier.domain.delivery import after_permanent_failure, obeys_opt_out
from services.notifier.domain.messages import held_until, send_after
from services.notifier.providers import PermanentError, Provider, TransientError
from services.notifier.store import OO, C, M, outbox
from shared import correlation
from shared.db import any_of, transaction
from shared.events import NotificationUpdated
from shared.masking import mask_personal_data
from shared.nik import mask_nik
from shared.outbox import add_to_outbox, outbox_row
from shared.topics import NOTIFICATION_EVENTS

log = structlog.get_logger(__name__)
AMBIGUOUS = "ambiguous: "  # last_error prefix: the provider may have the message
Clock = Callable[[], dt.datetime]


class QuietHours(Exception):
    """Quiet hours began between the claim and the provider call: the attempt is put back, not spent."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__(f"quiet hours until {until.isoformat()}")
        self.until = until


class RateLimit:
    """A token bucket per provider."""

    def __init__(self, per_s: float) -> None:
        self.per_s, self.tokens, self.at = per_s, per_s, time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.per_s, self.tokens + (now - self.at) * self.per_s)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.per_s)


class Sender:
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
    ) -> None:
        # Announcements go through the outbox: after committing some, the relay is woken to publish them.
        self.sessions, self.wake_relay, self.prefix, self.clock = sessions, wake_relay, prefix, clock
        self.providers = {"WHATSAPP": whatsapp, "SMS": sms}
        self.limits = {name: RateLimit(rate_per_s) for name in self.providers}
        self.max_attempts, self.retry_wait_s = max_attempts, retry_wait_s
        # Longer than one delivery can take (3 tries x 15 s timeout + backoff): a SENDING row older than
        # this belongs to a sender that died (this process before a restart, or another instance).
        self.stale_after = stale_after
        # After a timeout the provider may still be working on the message: ask it (lookup) only
        # this much later, or a message it records late would be sent twice.
        self.ambiguous_wait = ambiguous_wait
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add_provider(self, provider: Provider) -> None:
        """One more channel (the escalation webhook), rate-limited like the others."""
        self.providers[provider.channel] = provider
        self.limits[provider.channel] = RateLimit(next(iter(self.limits.values())).per_s)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier-sender")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        next_reconcile = 0.0
        while True:
            try:
                if time.monotonic() >= next_reconcile:
                    await self.reconcile()
                    next_reconcile = time.monotonic() + 30
                while await self.send_due() > 0:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - rows stay queued; try again
                log.warning("sender_failed", error=type(exc).__name__, detail=str(exc)[:200])
            try:  # asyncio.timeout: 3.11's wait_for can swallow a cancellation that meets a wake-up
                async with asyncio.timeout(1.0):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

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
                        .where(M.c.state == "SENDING", M.c.updated_at <= stale)
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
                    announcements += self._announcement(row, "SENT")
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
            self.wake_relay()
        return len(resolved_rows)

    async def send_due(self, limit: int = 50) -> int:
        now = self.clock()
        async with transaction(self.sessions) as session:
            rows = (
                (
                    await session.execute(
                        select(M)
                        .where(M.c.state == "QUEUED", M.c.send_after <= now)
                        .order_by(M.c.urgent.desc(), M.c.send_after)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                .mappings()
                .all()
            )
            # Quiet hours are checked at every claim, whatever queued the row (first send, retry,
            # crash recovery): a row due at night waits, QUEUED and unclaimed, until 07:00 local.
            held = {r["message_id"]: until for r in rows if (until := held_until(r["nik"], r["urgent"], now))}
            for until in set(held.values()):  # one statement per zone's 07:00
                ids = [message_id for message_id, at in held.items() if at == until]
                await session.execute(update(M).where(M.c.message_id.in_(ids)).values(send_after=until))
            # An opt-out is honoured here too: a message queued while BERHENTI was being recorded
            # (the handler read the number as not opted out) is cancelled at its claim, never sent.
            stopped = await self._opted_out(session, [r for r in rows if obeys_opt_out(r["kind"])])
            if stopped:
                await session.execute(
                    update(M)
                    .where(M.c.message_id.in_(stopped))
                    .values(state="SKIPPED", last_error="opted out (BERHENTI/STOP)", updated_at=now)
                )
                metrics.CANCELLED.inc(len(stopped))
            due = [r for r in rows if r["message_id"] not in held and r["message_id"] not in stopped]
            if held:
                metrics.HELD.inc(len(held))
            if due:
                await session.execute(
                    update(M)
                    .where(M.c.message_id.in_([r["message_id"] for r in due]))
                    .values(state="SENDING", attempts=M.c.attempts + 1, updated_at=now)
                )
        await asyncio.gather(*(self._deliver({**r, "attempts": r["attempts"] + 1}) for r in due))
        return len(rows)

    async def _opted_out(self, session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        phones = {r["phone"] for r in rows}
        if not phones:
            return set()
        query = select(OO.c.phone).where(any_of(OO.c.phone, phones), OO.c.opted_out)
        stopped = set((await session.scalars(query)).all())
        return {r["message_id"] for r in rows if r["phone"] in stopped}

    async def _deliver(self, row: dict[str, Any]) -> None:
        if cid := row.get("correlation_id"):
            with correlation.bound(cid):  # log lines of this message carry the request's correlation id
                return await self._deliver_now(row)
        return await self._deliver_now(row)

    async def _deliver_now(self, row: dict[str, Any]) -> None:
        channel = row["channel"]
        try:
            provider_id = await self._attempt(channel, row)
        except QuietHours as quiet:  # the claim's attempt is given back: it never reached a provider
            metrics.HELD.inc()
            await self._set(row, state="QUEUED", send_after=quiet.until, attempts=row["attempts"] - 1)
            return
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
            return await self._fail(row, f"permanent: {exc}")
        except TransientError as exc:
            if row["attempts"] >= self.max_attempts:
                return await self._fail(row, f"gave up after {row['attempts']} attempts: {exc}")
            # 30 s, 2 min, 8 min, 32 min...: a provider outage of about an hour before the dead letter.
            backoff = dt.timedelta(seconds=min(3600, 30 * 4 ** (row["attempts"] - 1)))
            if exc.ambiguous:  # the provider may have it: ask once it surely finished, not later
                backoff = self.ambiguous_wait
            error = (AMBIGUOUS if exc.ambiguous else "") + str(exc)[:300]
            again = send_after(row["nik"], row["urgent"], self.clock() + backoff)  # a retry keeps quiet hours too
            await self._set(row, state="QUEUED", send_after=again, last_error=error)
            return
        metrics.SENT.labels(channel, row["kind"]).inc()
        # last_error kept: why SMS
        await self._set(row, self._announcement(row, "SENT"), state="SENT", provider_message_id=provider_id)

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

    async def _fail(self, row: dict[str, Any], reason: str) -> None:
        reason = mask_personal_data(reason)  # a provider's error body may name the phone number
        metrics.FAILED.labels(row["channel"], "dead_letter").inc()
        await self._set(row, self._dead_letter(row, reason), state="FAILED", last_error=reason[:300])
        log.warning("message_failed", nik=_masked(row["nik"]), kind=row["kind"], reason=reason[:200])

    def _dead_letter(self, row: dict[str, Any], reason: str) -> list[dict[str, Any]]:
        """What finally fails goes to the dead-letter topic with the reason, for operations to act on, and is
        announced FAILED. A general answer to a number has no person's record to act on: nothing."""
        if row["nik"] is None:
            return []
        event = self._event(row, "FAILED", reason)
        dead = outbox_row(
            self.prefix + NOTIFICATION_EVENTS.dlq,
            event,
            {"x-dlq-reason": reason[:500]},
            correlation_id=row.get("correlation_id"),
        )
        # The same event is announced too: its dead-letter copy takes an outbox id of its own.
        return [
            {**dead, "event_id": uuid.uuid5(event.event_id, "dlq")},
            *self._announcement(row, "FAILED", event=event),
        ]

    async def _set(self, row: dict[str, Any], announcements: Sequence[dict[str, Any]] = (), **values: Any) -> None:
        """Update the message and put its announcements in the outbox, in one transaction."""
        async with transaction(self.sessions) as session:
            await session.execute(
                update(M).where(M.c.message_id == row["message_id"]).values(updated_at=self.clock(), **values)
            )
            await add_to_outbox(session, outbox, list(announcements), skip_waiting=True)
        if announcements:
            self.wake_relay()

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

    def _announcement(
        self, row: dict[str, Any], state: str, reason: str | None = None, *, event: NotificationUpdated | None = None
    ) -> list[dict[str, Any]]:
        """The outbox row announcing the message's new state (NotificationUpdated, key: the NIK), with the
        correlation id of the request that caused the message. A general answer (no person): none."""
        if row["nik"] is None:
            return []
        event = event or self._event(row, state, reason)
        return [outbox_row(self.prefix + NOTIFICATION_EVENTS.name, event, correlation_id=row.get("correlation_id"))]

    async def announce(self, row: dict[str, Any], state: str, reason: str | None = None) -> None:
        """A state recorded elsewhere (a provider's receipt, api.py), announced in a transaction of its own."""
        if not (announcements := self._announcement(row, state, reason)):
            return
        try:
            async with transaction(self.sessions) as session:
                await add_to_outbox(session, outbox, announcements, skip_waiting=True)
        except Exception as exc:  # noqa: BLE001 - the dashboard count may lag; the message state is recorded
            log.warning("announce_failed", error=type(exc).__name__)
            return
        self.wake_relay()


def _masked(nik: str | None) -> str | None:
    return mask_nik(nik) if nik else None

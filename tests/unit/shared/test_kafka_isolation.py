"""shared.kafka's batch path when a batch keeps failing for a non-transient reason: it is halved until the records
that fail on their own stand alone; every part that succeeds is applied once, in partition order, and exactly
the records that fail alone are dead-lettered, each once with its own error. A batch that failed only as a whole
(too big for one statement) costs a couple of calls, and a batch whose every record fails is dead-lettered in
about twice its size of calls, without a delay per record (a 4,000-record batch must not outlast the consumer's
poll interval). The real Kafka and PostgreSQL run is tests/integration/test_poison_batch.py."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from shared.errors import TransientError
from shared.kafka import RetryPolicy, _process

NO_WAIT = RetryPolicy(attempts=3, first_delay_s=0, max_delay_s=0)


def records(n: int) -> list[ConsumerRecord]:
    return [ConsumerRecord("p.t", 0, i, 0, 0, b"k", str(i).encode(), None, 1, 1, []) for i in range(n)]


class Refused(Exception):
    pass


class Consumer:
    """A handler that refuses the `poison` values and any call of more than `max_batch` events (all or nothing,
    as a transaction), and whose every `blink_every`-th call meets a transient failure; plus the dead letters
    it would write."""

    def __init__(self, poison: set[int] | None = None, max_batch: int = 10**9, blink_every: int = 0) -> None:
        self.poison, self.max_batch, self.blink_every = poison or set(), max_batch, blink_every
        self.applied: list[int] = []
        self.calls = 0
        self.dead: list[tuple[int, str, str, int]] = []

    async def handler(self, events: list[int]) -> None:
        self.calls += 1
        if self.blink_every and self.calls % self.blink_every == 0:
            raise TransientError("connection lost")
        if len(events) > self.max_batch:
            raise Refused(f"the number of query arguments cannot exceed 32767 ({len(events)} events)")
        if bad := [e for e in events if e in self.poison]:
            raise Refused(f"check constraint refuses {bad[0]}")
        self.applied += events

    async def send(self, failed: Sequence[tuple[ConsumerRecord, str, str, int]], prefix: str) -> None:
        self.dead += [(int(r.value), reason, error, n) for r, reason, error, n in failed]

    async def consume(self, n: int) -> None:
        await _process(records(n), self.handler, TypeAdapter(int), self, NO_WAIT, "p.")  # type: ignore[arg-type]


async def test_one_refused_record_is_dead_lettered_with_its_reason_and_the_rest_applied_in_order() -> None:
    consumer = Consumer(poison={1234})
    await consumer.consume(4000)
    assert consumer.applied == [i for i in range(4000) if i != 1234]
    [(value, reason, error, tried)] = consumer.dead
    assert (value, error) == (1234, "Refused") and reason == "Refused: check constraint refuses 1234"
    assert tried > NO_WAIT.attempts  # the batch's attempts and one per halving
    assert consumer.calls <= NO_WAIT.attempts + 2 * 12  # two calls per halving of 4,000, not one per record


async def test_a_batch_refused_only_as_a_whole_is_applied_in_a_few_calls_with_nothing_dead_lettered() -> None:
    consumer = Consumer(max_batch=1000)
    await consumer.consume(2000)
    assert consumer.applied == list(range(2000)) and consumer.dead == []
    assert consumer.calls == NO_WAIT.attempts + 2


async def test_a_batch_whose_every_record_is_refused_dead_letters_each_once_in_about_twice_its_size_of_calls() -> None:
    consumer = Consumer(poison=set(range(4000)))
    await consumer.consume(4000)
    assert consumer.applied == []
    assert [v for v, *_ in consumer.dead] == list(range(4000))
    assert consumer.calls <= NO_WAIT.attempts + 2 * 4000


async def test_a_record_alone_in_its_batch_is_tried_the_policy_s_times_then_dead_lettered() -> None:
    consumer = Consumer(poison={0})
    await consumer.consume(1)
    assert consumer.calls == NO_WAIT.attempts and consumer.dead[0][3] == NO_WAIT.attempts


async def test_transient_failures_while_isolating_are_waited_out_never_dead_lettered() -> None:
    consumer = Consumer(poison={7}, max_batch=5, blink_every=4)  # parts, records and the connection all fail
    await consumer.consume(20)
    assert consumer.applied == [i for i in range(20) if i != 7]
    assert [v for v, *_ in consumer.dead] == [7]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 300),
    poison=st.sets(st.integers(0, 299), max_size=20),
    max_batch=st.integers(1, 400),
)
async def test_whatever_fails_exactly_the_refused_records_are_dead_lettered_and_the_others_applied_once_in_order(
    n: int, poison: set[int], max_batch: int
) -> None:
    consumer = Consumer(poison=poison, max_batch=max_batch)
    await consumer.consume(n)
    assert consumer.applied == [i for i in range(n) if i not in poison]
    assert [v for v, *_ in consumer.dead] == sorted(p for p in poison if p < n)

"""The outbox relay stops when asked even when its Kafka client swallowed the cancellation (shared/outbox.py
`OutboxRelay._run`): aiokafka's bootstrap, cancelled on a loaded machine, raised a connection error instead,
the relay logged it and tried again, and stop() waited for it forever (test_outbox_age_metric, beside a demo)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import MetaData, text

from shared.db import make_engine
from shared.messaging import PublishFailed
from shared.outbox import OutboxRelay, outbox_table
from shared.settings import Settings
from testkit.polling import eventually

SCHEMA = "outbox_stop"


async def test_a_relay_whose_client_swallows_the_cancellation_still_stops(settings: Settings) -> None:
    engine = make_engine(settings)
    table = outbox_table(MetaData(), SCHEMA)
    async with engine.begin() as conn:
        await conn.execute(text(f"create schema {SCHEMA}"))
        await conn.run_sync(table.metadata.create_all)
    relay = OutboxRelay(engine, table, settings.kafka_bootstrap_servers, poll_interval_s=0.1)
    entered: list[None] = []

    async def swallowing(conn: Any) -> int:
        entered.append(None)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # what aiokafka's bootstrap did with a cancellation (the first time)
            if len(entered) == 1:
                raise PublishFailed("Unable to bootstrap") from None
            raise
        return 0

    relay.relay_once = swallowing  # type: ignore[method-assign]
    relay.start()
    try:

        async def relaying() -> bool:
            return bool(entered)

        await eventually(relaying, timeout=60)
        async with asyncio.timeout(60):
            await relay.stop()
        assert relay._task is not None and relay._task.done()
        assert len(entered) == 1  # stopped as asked: it did not go on to try again
    finally:
        if relay._task is not None and not relay._task.done():  # a failed run: its second try cancels cleanly
            relay._task.cancel()
        await engine.dispose()

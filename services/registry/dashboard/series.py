"""The dashboard's time-series queries, each one set-based statement grouped in PostgreSQL (date_bin,
width_bucket) over the registry's own tables: requests (decisions), notifications (the notifier's
updates as the registry mirrors them: a service never reads another's schema) and worklist items."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Interval, String, and_, bindparam, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY, FLOAT
from sqlalchemy.ext.asyncio import AsyncConnection

from services.registry.store import RQ, N, W
from shared.enums import Outcome, WorklistState

Row = tuple[dt.datetime, str, int]
# Time from an emergency's receipt to its approval (ACTIVE), in seconds: the histogram's bucket edges.
TO_ACTIVE_EDGES = (1, 5, 30, 60, 300, 3600, 12 * 3600, 24 * 3600)


def _bin(step: dt.timedelta, column: Any, since: dt.datetime) -> Any:
    # Buckets aligned on `since`, like charts.buckets: the rows land exactly on the chart's points.
    return func.date_bin(bindparam("step", step, type_=Interval), column, since)


async def decisions(conn: AsyncConnection, since: dt.datetime, until: dt.datetime, step: dt.timedelta) -> list[Row]:
    """Decisions per bucket and outcome: each request counted at its latest decision (a PENDING later
    approved counts once, as approved, when it was approved)."""
    at = _bin(step, RQ.c.decided_at, since).label("at")
    q = (
        select(at, RQ.c.status, func.count())
        .where(RQ.c.decided_at >= since, RQ.c.decided_at < until, RQ.c.status.in_([o.value for o in Outcome]))
        .group_by(at, RQ.c.status)
    )
    return [(t, s, n) for t, s, n in (await conn.execute(q)).all()]


async def messages(conn: AsyncConnection, since: dt.datetime, until: dt.datetime, step: dt.timedelta) -> list[Row]:
    """Messages sent, delivered and failed per bucket: only rows updated since `since` are read (index)."""
    recent = N.c.updated_at >= since
    parts = [
        select(_bin(step, N.c[column], since).label("at"), literal(name, String).label("state")).where(
            recent, N.c[column] >= since, N.c[column] < until
        )
        for column, name in (("sent_at", "SENT"), ("delivered_at", "DELIVERED"), ("failed_at", "FAILED"))
    ]
    moments = union_all(*parts).subquery()
    q = select(moments.c.at, moments.c.state, func.count()).group_by(moments.c.at, moments.c.state)
    return [(t, s, n) for t, s, n in (await conn.execute(q)).all()]


async def time_to_active(conn: AsyncConnection, since: dt.datetime) -> dict[str, Any]:
    """Emergencies approved since `since`: how many fell in each TO_ACTIVE_EDGES bucket (0 = under the
    first edge, len(edges) = over the last), and the median and 90th percentile in seconds."""
    seconds = func.extract("epoch", RQ.c.decided_at - RQ.c.received_at)
    approved = and_(RQ.c.path == "EMERGENCY", RQ.c.status == Outcome.APPROVED.value, RQ.c.decided_at >= since)
    edges = bindparam("edges", [float(e) for e in TO_ACTIVE_EDGES], type_=ARRAY(FLOAT))
    bucket = func.width_bucket(seconds, edges).label("bucket")
    counts = dict((await conn.execute(select(bucket, func.count()).where(approved).group_by(bucket))).all())
    p50, p90 = (
        await conn.execute(
            select(
                func.percentile_cont(0.5).within_group(seconds), func.percentile_cont(0.9).within_group(seconds)
            ).where(approved)
        )
    ).one()
    return {
        "counts": [int(counts.get(i, 0)) for i in range(len(TO_ACTIVE_EDGES) + 1)],
        "p50_s": p50,
        "p90_s": p90,
    }


async def worklist_summary(conn: AsyncConnection, now: dt.datetime) -> dict[str, Any]:
    """Open and overdue items per kind (an index-only scan of the open items), and a version made of
    them: the page fetches the list again (with the viewer's own key) when the version moves. An item
    opened while another of its kind closed, both unnoticed in one interval, leave the counts as
    they were: the page also fetches once a minute."""
    q = (
        select(W.c.kind, func.count(), func.count().filter(W.c.due_at < now))
        .where(W.c.state == WorklistState.OPEN.value)
        .group_by(W.c.kind)
    )
    open_by_kind, overdue_by_kind = {}, {}
    for kind, n_open, n_overdue in (await conn.execute(q)).all():
        open_by_kind[kind], overdue_by_kind[kind] = n_open, n_overdue
    return {
        "open": sum(open_by_kind.values()),
        "overdue": sum(overdue_by_kind.values()),
        "open_by_kind": open_by_kind,
        "overdue_by_kind": overdue_by_kind,
        "version": "|".join(f"{k}:{open_by_kind[k]}:{overdue_by_kind[k]}" for k in sorted(open_by_kind)),
    }

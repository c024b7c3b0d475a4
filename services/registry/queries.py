"""Read side: a participant with history, the stats, and the dashboard snapshot (SQL aggregates)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Select, and_, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.registry.domain.status import WINDOW_CLOSED
from services.registry.domain.today import start_of_local_day
from services.registry.store import EMERGENCY_SQL, RQ, A, H, N, P
from shared.nik import mask_nik
from shared.sla import sla_counts
from shared.timezones import zone_for_nik


@asynccontextmanager
async def one_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose statements all see the same committed state (REPEATABLE READ). At READ COMMITTED
    each statement sees the batches committed before it starts, so two statements can disagree: a record
    beside history rows it does not have yet (seen in CI: 5 history rows, desil still empty), or statuses
    counted before a batch and decisions after it (seen in CI: the demo's summary counted two approvals
    among the decisions while their people were still INACTIVE)."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


async def participant(engine: AsyncEngine, nik: str) -> dict[str, Any] | None:
    async with one_snapshot(engine) as conn:
        row = (await conn.execute(select(P).where(P.c.nik == nik))).mappings().first()
        if row is None:
            return None
        history = (await conn.execute(select(H).where(H.c.nik == nik).order_by(H.c.id))).mappings().all()
    return {
        "nik": row["nik"],
        "status": row["status"],
        "deactivation_reason": row["deactivation_reason"],
        "deactivated_on": row["deactivated_on"],
        # Shown in the participant's own time zone: the window closes at 23:59:59 local time.
        "window_closes_at": row["window_closes_at"] and row["window_closes_at"].astimezone(zone_for_nik(nik)),
        "desil": row["desil"],
        "biometric_recorded": row["biometric_recorded"],
        "id_semesta": row["id_semesta"],
        "deceased": row["deceased"],
        "nik_conflict_open": row["nik_conflict_open"],
        "region": {"province": row["province"], "regency": row["regency"], "district": row["district"]},
        "history": [
            {
                "event_id": h["event_id"],
                "event_type": h["event_type"],
                "occurred_at": h["occurred_at"],
                "source": h["source"],
                "previous_status": h["previous_status"],
                "status": h["status"],
                "reasons": h["reasons"],
            }
            for h in history
        ],
    }


async def _grouped(conn, *columns) -> list:  # type: ignore[no-untyped-def]
    return (await conn.execute(select(*columns, func.count()).group_by(*columns))).all()


async def stats(engine: AsyncEngine) -> dict[str, Any]:
    async with one_snapshot(engine) as conn:
        return await _stats(conn)


async def _stats(conn: AsyncConnection) -> dict[str, Any]:
    by_status = dict(await _grouped(conn, P.c.status))
    by_reason = {k: v for k, v in await _grouped(conn, P.c.deactivation_reason) if k}
    by_region = [
        {"province": p, "regency": r, "district": d, "count": n}
        for p, r, d, n in await _grouped(conn, P.c.province, P.c.regency, P.c.district)
    ]
    outcomes = dict(await _grouped(conn, RQ.c.status))
    reason = func.unnest(RQ.c.reasons).label("reason")
    reasons = dict(
        (
            await conn.execute(
                select(reason, func.count())
                .where(RQ.c.status.in_(["APPROVED", "REJECTED", "PENDING", "EXPIRED"]))
                .group_by(reason)
            )
        ).all()
    )
    # The board (shared.sla): a clock is open while its request is undecided; approved after the
    # breach stays breached (met late); rejected or expired is closed.
    undecided = RQ.c.status.in_(["RECEIVED", "PENDING"]).label("undecided")
    sla = sla_counts(await _grouped(conn, RQ.c.sla_state, undecided))
    notifications: dict[str, dict[str, int]] = {}
    for channel, state, n in await _grouped(conn, N.c.channel, N.c.state):
        notifications.setdefault(channel, {})[state] = n
    anomalies = (await conn.execute(select(func.count()).select_from(A))).scalar() or 0
    # Expiries at window close (the sweep's history rows; a partial index keeps this a small count).
    window_expired = (
        await conn.execute(select(func.count()).select_from(H).where(H.c.event_type == WINDOW_CLOSED))
    ).scalar() or 0
    decided = sum(v for k, v in outcomes.items() if k in ("APPROVED", "REJECTED", "EXPIRED"))
    return {
        "by_status": by_status,
        "by_deactivation_reason": by_reason,
        "by_region": by_region,
        "decisions_by_outcome": {k: v for k, v in outcomes.items() if k != "RECEIVED"},
        "decisions_by_reason": reasons,
        "requests": {"total": sum(outcomes.values()), "decided": decided},
        "emergency_sla": sla,
        "notifications": notifications,
        "anomalies": anomalies,
        "expired_at_window_close": window_expired,
    }


def sla_board_query(now: dt.datetime) -> Select[Any]:
    """The SLA board: emergencies whose clock runs, or that were met in the last day, deadline first."""
    return (
        select(RQ)
        .where(
            # The partial index's own predicate, as a literal (a bound parameter could not prove it in a
            # prepared statement's generic plan): emergencies, by deadline.
            text(EMERGENCY_SQL),
            RQ.c.sla_state.is_not(None),
            RQ.c.sla_state != "CLOSED",
            RQ.c.status.not_in(["REJECTED", "EXPIRED"]),
            # Decided ones (met, or met late: BREACHED) stay in view for a day.
            RQ.c.status.in_(["RECEIVED", "PENDING"]) | (RQ.c.decided_at >= now - dt.timedelta(hours=24)),
        )
        .order_by(RQ.c.sla_deadline)
        .limit(200)
    )


async def dashboard_snapshot(engine: AsyncEngine, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    async with one_snapshot(engine) as conn:  # the headline, the boards and the regions from one state
        s = await _stats(conn)
        today = start_of_local_day(now)  # the national view's day: from 00:00 WIB
        decisions_today = (
            await conn.execute(select(func.count()).where(RQ.c.decided_at >= today, RQ.c.status != "PENDING"))
        ).scalar()
        board = (await conn.execute(sla_board_query(now))).mappings().all()
        closing = and_(
            P.c.status.in_(["INACTIVE", "REACTIVATION_PENDING"]),
            P.c.window_closes_at > now,
            P.c.window_closes_at <= now + dt.timedelta(days=30),
        )
        people = (
            (
                await conn.execute(
                    select(
                        P.c.province,
                        P.c.regency,
                        P.c.district,
                        func.count(P.c.deactivated_on).label("deactivated"),
                        func.sum(case((closing, 1), else_=0)).label("closing"),
                    ).group_by(P.c.province, P.c.regency, P.c.district)
                )
            )
            .mappings()
            .all()
        )
        reqs = {
            (r["province"], r["regency"], r["district"]): r
            for r in (
                await conn.execute(
                    select(
                        RQ.c.province,
                        RQ.c.regency,
                        RQ.c.district,
                        func.count().label("requests"),
                        func.sum(case((RQ.c.status == "APPROVED", 1), else_=0)).label("approved"),
                    ).group_by(RQ.c.province, RQ.c.regency, RQ.c.district)
                )
            )
            .mappings()
            .all()
        }
    regions = []
    for r in people:
        key = (r["province"], r["regency"], r["district"])
        q = reqs.get(key, {})
        regions.append(
            {
                "province": key[0],
                "regency": key[1],
                "district": key[2],
                "deactivated": r["deactivated"],
                "requests": q.get("requests", 0),
                "approved": int(q.get("approved") or 0),
                "inactive_closing_30d": int(r["closing"] or 0),
            }
        )
    by_status = s["by_status"]
    return {
        "generated_at": now.isoformat(),
        "headline": {
            "inactive": by_status.get("INACTIVE", 0),
            "pending": by_status.get("REACTIVATION_PENDING", 0),
            "reactivated": s["decisions_by_outcome"].get("APPROVED", 0),
            "expired": by_status.get("EXPIRED", 0),
            "decisions_today": decisions_today or 0,
        },
        "sla_counts": s["emergency_sla"],
        "sla_board": [
            {
                "request_id": str(b["request_id"]),
                "nik_masked": mask_nik(b["nik"]),
                "facility_code": b["facility_code"],
                "received_at": b["received_at"].isoformat(),
                "sla_deadline": b["sla_deadline"].isoformat(),
                "sla_state": b["sla_state"],
                "status": b["status"],
            }
            for b in board
        ],
        "regions": regions,
        "decisions_by_reason": s["decisions_by_reason"],
        "decisions_by_outcome": s["decisions_by_outcome"],
        "notifications": s["notifications"],
    }

"""`make chaos`: run a wave with reactivation requests while something breaks, then compare what
clients were told (202s) with what the registry and the provider (the notifier's simulator) hold.

The scenarios that need only the running system (baseline, SIGKILL of each service, poison records),
the harness that posts and reads, and the counting of lost and duplicated work are the testkit's
(testkit/chaos_scenarios.py, testkit/chaos.py: what "lost" and "duplicated" mean); this module adds the
scenarios that break the provider or restart Kafka or PostgreSQL, and the report.

CHAOS_SCALE (default 1.0: 2,000 people per wave) sizes the waves; CHAOS_SCENARIOS (comma-separated)
picks scenarios; CHAOS_ROLES (default 1: each service as an urgent and a bulk process, as `make up` runs them;
0: one `--role all` process per service) picks the topology. `tests/e2e/test_chaos_reduced.py` runs a reduced
version inside `make test`. Details: docs/chaos.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from testkit.chaos import plan_wave
from testkit.chaos_results import merge_results
from testkit.chaos_scenarios import SEEDS, SYSTEM_SCENARIOS, Harness, Outcome, Scenario, for_topology, run_scenarios
from testkit.infra import LOCAL_DATABASE, LOCAL_KAFKA

ROOT = Path(__file__).resolve().parents[1]
out = Console(width=None if sys.stdout.isatty() else 150)

# The provider simulator's random faults (services/notifier/simulator.py): half the calls fail with a
# 500, one in ten hangs longer than the notifier's provider timeout first.
FAIL_RATE, TIMEOUT_RATE = 0.5, 0.1


def provider_timeout_s() -> float:
    """The notifier's HTTP timeout towards the providers (services/notifier/settings.py, env PROVIDER_TIMEOUT_S)."""
    return float(os.environ.get("PROVIDER_TIMEOUT_S", "10"))


def infra_env() -> dict[str, str]:
    """The environment deploy/local/{kafka,postgres}.sh run with: ours, so PBI_STATE_DIR, PBI_KAFKA_PORT,
    PBI_KAFKA_CONTROLLER_PORT, PGPORT and PBI_PG_DATA select the same (private) infrastructure."""
    return dict(os.environ)


def check_restart_targets(kafka: str, database_url: str) -> None:
    """Refuses to restart a broker or database other than the one the system under test uses."""
    kafka_port = int(kafka.split(",")[0].rsplit(":", 1)[1])
    script_kafka = int(os.environ.get("PBI_KAFKA_PORT", "9092"))
    pg_port = make_url(database_url).port or 5432
    script_pg = int(os.environ.get("PGPORT", "5432"))
    if (kafka_port, pg_port) != (script_kafka, script_pg):
        raise SystemExit(
            f"the restart scenarios would restart Kafka :{script_kafka} / PostgreSQL :{script_pg}, but the "
            f"system runs on Kafka :{kafka_port} / PostgreSQL :{pg_port}: set PBI_KAFKA_PORT and PGPORT "
            "(and PBI_STATE_DIR, PBI_PG_DATA) to match KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (docs/chaos.md)"
        )


async def infra(which: str, action: str) -> None:
    script = ROOT / "deploy" / "local" / ("kafka.sh" if which == "kafka" else "postgres.sh")
    done = await asyncio.to_thread(
        subprocess.run, ["bash", str(script), action], env=infra_env(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} {action} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


async def scenario_restart_infra(h: Harness, which: str, n: int) -> Outcome:
    """Stop the broker (or the database) one second into the wave, start it again two seconds later.
    Recovery counts from the stop."""
    wave = plan_wave(n, SEEDS[which], h.used)
    dead0 = await h.dead_letters()
    posting = asyncio.create_task(h.post(wave))
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    try:
        await infra(which, "stop")
        down_s = time.monotonic() - t0
        await asyncio.sleep(2)
    finally:
        await infra(which, "start")
    outage_s = time.monotonic() - t0
    out.print(f"  {which} stopped in {down_s:.1f} s, back after {outage_s:.1f} s")
    acked = await posting
    tally, recovery = await h.settle(wave, acked, t0, h.limit(240, 480))
    o = h.outcome(f"restart {which}", wave, acked, tally, await h.dead_letters() - dead0, recovery)
    o.detail["outage_s"] = round(outage_s, 1)
    return o


async def scenario_provider(h: Harness, n: int, fault_window_s: float) -> Outcome:
    """The provider simulator fails half the calls (HTTP 500) and lets one in ten hang longer than the
    notifier's provider timeout, from before the wave until `fault_window_s` after it was acknowledged;
    then it is healthy again. Every message due must end up at the provider exactly once."""
    wave = plan_wave(n, SEEDS["provider"], h.used)
    timeout_s = provider_timeout_s() + 2  # a real timeout for the notifier, yet short enough to finish
    dead0 = await h.dead_letters()
    await h.provider_faults({"fail_rate": FAIL_RATE, "timeout_rate": TIMEOUT_RATE, "timeout_s": timeout_s})
    t0 = time.monotonic()
    try:
        acked = await h.post(wave)
        await asyncio.sleep(fault_window_s)
    finally:
        await h.provider_faults({})
    fault_s = time.monotonic() - t0
    out.print(
        f"  provider failing {FAIL_RATE:.0%} and hanging {TIMEOUT_RATE:.0%} of calls ({timeout_s:g} s) "
        f"for {fault_s:.0f} s"
    )
    # The notifier backs off 30 s, then 2 min, after a message's tries fail: allow for both.
    tally, recovery = await h.settle(wave, acked, t0, h.limit(300, 600))
    o = h.outcome("provider 50% fail, 10% timeout", wave, acked, tally, await h.dead_letters() - dead0, recovery)
    o.detail["fault_s"] = round(fault_s, 1)
    return o


# ---------------------------------------------------------------------------------------------------------------
# Running


ALL: dict[str, Scenario] = {
    **SYSTEM_SCENARIOS,
    "provider": lambda h, n: scenario_provider(h, max(50, n // 4), h.limit(10, 60)),
    "restart-kafka": lambda h, n: scenario_restart_infra(h, "kafka", n),
    "restart-postgres": lambda h, n: scenario_restart_infra(h, "postgres", n),
}


async def run(scale: float = 1.0, scenarios: list[str] | None = None, roles: bool = True) -> list[Outcome]:
    """`roles`: the services as `make up` runs them, an urgent and a bulk process each (the role kills run
    too); else one `--role all` process per service."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    admin_db = os.environ.get("DATABASE_URL", LOCAL_DATABASE)
    chosen = scenarios or list(for_topology(ALL, roles))
    if any(s.startswith("restart-") for s in chosen):
        check_restart_targets(kafka, admin_db)
    return await run_scenarios(kafka, admin_db, scale, chosen, ALL, roles=roles)


def report(results: list[Outcome]) -> None:
    table = Table(title="chaos", title_justify="left")
    for col in ("scenario", "events", "lost", "duplicated", "dead-lettered", "recovery (s)", "requests", "messages"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for r in results:
        table.add_row(
            r.name,
            str(r.events),
            str(r.lost),
            str(r.duplicated),
            str(r.dead_lettered),
            str(r.recovery_s) if r.detail.get("caught_up_in_time", True) else f"> {r.recovery_s:.0f}",
            str(r.requests),
            str(r.messages),
        )
    out.print(table)


if __name__ == "__main__":
    wanted = [s.strip() for s in os.environ.get("CHAOS_SCENARIOS", "").split(",") if s.strip()] or None
    roles = os.environ.get("CHAOS_ROLES", "1") != "0"
    outcomes = asyncio.run(run(float(os.environ.get("CHAOS_SCALE", "1.0")), wanted, roles))
    results = ROOT / "chaos-results.json"
    results.write_text(json.dumps(merge_results(results, outcomes), indent=2) + "\n")
    report(outcomes)

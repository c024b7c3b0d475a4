"""`pbi demo generate` writes the demo day to files; `pbi demo run` plays it against the running
system (`make up`) through its public contract only: the CLI and the HTTP APIs."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pbi_cli.demo_data import DemoDay, generate

app = typer.Typer(help="The demo: a realistic day in Tangerang Selatan.", no_args_is_help=True)
out = Console()

SCALES = {"small": 0.02, "medium": 0.2, "full": 1.0}
INTAKE = os.environ.get("PBI_INTAKE_URL", "http://127.0.0.1:8080")
REGISTRY = os.environ.get("PBI_REGISTRY_URL", "http://127.0.0.1:8081")
PBI = str(Path(sys.executable).parent / "pbi")


def _scale(name: str) -> float:
    if name in SCALES:
        return SCALES[name]
    try:
        return float(name)
    except ValueError:
        raise typer.BadParameter(f"scale must be one of {', '.join(SCALES)} or a fraction like 0.1")


def write_files(day: DemoDay, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        name: folder / name
        for name in ("facilities.csv", "deactivations.csv", "events.jsonl", "requests.jsonl", "emergencies.jsonl")
    }
    with files["facilities.csv"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "name"])
        w.writerows(day.facilities)
    with files["deactivations.csv"].open("w", newline="") as f:
        rows = list(day.deactivation_rows())
        w2 = csv.DictWriter(f, fieldnames=list(rows[0]))
        w2.writeheader()
        w2.writerows(rows)
    for name, items in (
        ("events.jsonl", day.facts),
        ("requests.jsonl", day.requests),
        ("emergencies.jsonl", day.emergencies),
    ):
        files[name].write_text("".join(json.dumps(i) + "\n" for i in items))
    return files


@app.command("generate")
def generate_cmd(
    scale: Annotated[str, typer.Option(help="small (~420 people), medium, full (20,990) or a fraction")] = "full",
    seed: Annotated[int, typer.Option()] = 2026,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the generated files")] = Path("demo-data"),
) -> None:
    """Write the demo day (facilities, the deactivation list, facts, requests) as files."""
    day = generate(_scale(scale), seed)
    files = write_files(day, out_dir)
    out.print(
        f"{len(day.people):,} deactivations, {len(day.facts):,} facts, {len(day.requests):,} requests, "
        f"{len(day.emergencies):,} emergencies written to {out_dir}/ ({', '.join(p.name for p in files.values())})"
    )


def _pbi(*args: str) -> str:
    result = subprocess.run([PBI, *args], capture_output=True, text=True)
    if result.returncode != 0:
        out.print(f"[red]`pbi {' '.join(args)}` failed:[/red]\n{result.stderr[-2000:]}")
        raise typer.Exit(1)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


async def _post_all(
    progress: Progress, label: str, url: str, bodies: list[Any], keys: list[str], concurrency: int = 16
) -> list[httpx.Response]:
    task = progress.add_task(label, total=len(bodies))
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def post(i: int, body: Any) -> httpx.Response:
            # One Idempotency-Key per body, the same on every try: a retry after a lost answer (503, or the
            # connection dropped by a busy server) cannot be applied twice.
            headers = {"Authorization": f"Bearer {keys[i % len(keys)]}", "Idempotency-Key": str(uuid.uuid4())}
            async with sem:
                for attempt in range(10):
                    try:
                        r = await client.post(url, json=body, headers=headers)
                    except httpx.TransportError:
                        if attempt == 9:
                            raise
                    else:
                        if r.status_code not in (409, 503):  # 409: the same key still in progress
                            break
                    await asyncio.sleep(min(2**attempt * 0.2, 5))
                progress.advance(task)
                return r

        return await asyncio.gather(*(post(i, b) for i, b in enumerate(bodies)))


def _check(responses: list[httpx.Response], what: str) -> int:
    """How many were accepted (202); the others are reported."""
    bad = [r for r in responses if r.status_code != 202]
    if bad:
        out.print(f"[yellow]{len(bad)} {what} not accepted; first: {bad[0].status_code} {bad[0].text[:300]}[/yellow]")
    return len(responses) - len(bad)


async def decided_now(read_key: str) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(f"{REGISTRY}/v1/stats", headers={"Authorization": f"Bearer {read_key}"})
    return decided_requests(r.json()) if r.status_code == 200 else 0


async def _settle(
    progress: Progress, read_key: str, expected_decisions: int, timeout_s: float, baseline: int = 0
) -> dict[str, Any]:
    """Wait until the registry has seen a decision for every request of ours (or the timeout passes);
    `baseline` is what it had decided before we started (the system may be shared)."""
    task = progress.add_task("waiting for decisions", total=expected_decisions)
    deadline = time.monotonic() + timeout_s
    stats: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < deadline:
            r = await client.get(f"{REGISTRY}/v1/stats", headers={"Authorization": f"Bearer {read_key}"})
            if r.status_code == 200:
                stats = r.json()
                decided = decided_requests(stats) - baseline
                progress.update(task, completed=min(decided, expected_decisions))
                if decided >= expected_decisions:
                    break
            await asyncio.sleep(1)
    return stats


def decided_requests(stats: dict[str, Any]) -> int:
    """Requests with a decision (any outcome), read from the registry's stats."""
    # PENDING is a decision too: those requests now wait for facts (desil, biometric), not for us.
    return int(sum(stats.get("decisions_by_outcome", {}).values()))


@app.command("run")
def run_cmd(
    scale: Annotated[str, typer.Option(envvar="DEMO_SCALE", help="small, medium, full or a fraction")] = "full",
    seed: Annotated[int, typer.Option()] = 2026,
    data_dir: Annotated[Path, typer.Option(help="Where the generated files are written")] = Path(".run/demo"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every decision")] = 300,
    summary_json: Annotated[Path | None, typer.Option(help="Also write the summary as JSON here")] = None,
) -> None:
    """Play the day against the running system (`make up` first) and print a summary."""
    started = time.monotonic()
    day = generate(_scale(scale), seed)
    files = write_files(day, data_dir)
    out.print(f"[bold]Demo day {day.today}[/bold]: {len(day.people):,} deactivations in Tangerang Selatan")
    _pbi("facilities", "import", str(files["facilities.csv"]))
    writer = _pbi("keys", "issue", "--name", "demo: SIKS-NG/DTSEN/Dukcapil feed", "--scopes", "events:write")
    dinsos = _pbi("keys", "issue", "--name", "demo: Dinsos Tangsel", "--scopes", "reactivations:write")
    reader = _pbi(
        "keys", "issue", "--name", "demo: dashboard (read-only)", "--scopes", "dashboard:read,participants:read"
    )
    hospital_keys = {
        code: _pbi("keys", "issue", "--name", f"demo: {name}", "--scopes", "emergency:write", "--facility", code)
        for code, name in day.facilities[:10]
    }
    out.print("importing the deactivation list (pbi import deactivations)…")
    subprocess.run([PBI, "import", "deactivations", str(files["deactivations.csv"])], check=True)

    async def play() -> dict[str, Any]:
        baseline = await decided_now(reader)
        with Progress(
            TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=out
        ) as progress:
            batches = [{"events": day.facts[i : i + 2000]} for i in range(0, len(day.facts), 2000)]
            _check(
                await _post_all(progress, "DTSEN / Dukcapil facts", f"{INTAKE}/v1/events", batches, [writer], 2),
                "fact batches",
            )
            # A request on the emergency path comes from its hospital, with that facility's key.
            by_hospital = [r for r in day.requests if r["path"] == "EMERGENCY"]
            from_dinsos = [r for r in day.requests if r["path"] != "EMERGENCY"]
            accepted = _check(
                await _post_all(
                    progress, "Dinsos / village requests", f"{INTAKE}/v1/reactivations", from_dinsos, [dinsos]
                ),
                "requests",
            )
            if by_hospital:  # keys[i] is body i's (one each)
                keys = [hospital_keys[r["documents"]["hospital_letter"]["facility_code"]] for r in by_hospital]
                accepted += _check(
                    await _post_all(progress, "hospital requests", f"{INTAKE}/v1/reactivations", by_hospital, keys),
                    "hospital requests",
                )
            emergency_keys = [hospital_keys[e["facility_code"]] for e in day.emergencies]
            task = progress.add_task("hospital emergencies", total=len(day.emergencies))
            responses = []
            async with httpx.AsyncClient(timeout=30) as client:
                for body, key in zip(day.emergencies, emergency_keys, strict=True):
                    responses.append(
                        await client.post(
                            f"{INTAKE}/v1/hospital/emergency-reactivations",
                            json=body,
                            headers={"Authorization": f"Bearer {key}"},
                        )
                    )
                    progress.advance(task)
            accepted += _check(responses, "emergencies")
            stats = await _settle(progress, reader, accepted, timeout, baseline)
            decided = decided_requests(stats) - baseline
            return stats | {"accepted_requests": accepted, "decided_requests": decided}

    stats = asyncio.run(play())
    accepted, decided = stats.pop("accepted_requests"), stats.pop("decided_requests")
    print_summary(stats)
    if summary_json:
        summary_json.write_text(json.dumps(stats, indent=2, default=str))
    out.print(f"\nDone in {time.monotonic() - started:.0f} s. Dashboard: [bold]{REGISTRY}/dashboard[/bold]")
    out.print(f"Read-only key (dashboard:read): [bold]{reader}[/bold]")
    if decided < accepted:
        out.print(f"[red]only {decided} of the {accepted} accepted requests were decided within {timeout:.0f} s[/red]")
        raise typer.Exit(1)


def print_summary(stats: dict[str, Any]) -> None:
    for title, section in (
        ("Participants by status", stats.get("by_status", {})),
        ("Decisions by outcome", stats.get("decisions_by_outcome", stats.get("decisions", {}))),
        ("Decisions by reason", stats.get("decisions_by_reason", {})),
        ("Emergency SLA", stats.get("emergency_sla", stats.get("sla", {}))),
        ("Messages by channel", stats.get("notifications", {})),
    ):
        if not isinstance(section, dict) or not section:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("")
        table.add_column("count", justify="right")
        for key, value in section.items():
            table.add_row(str(key), json.dumps(value) if isinstance(value, dict) else f"{value:,}")
        out.print(table)
    regions = region_table(stats.get("by_region", []))
    if regions is not None:
        out.print(regions)


def region_table(by_region: list[dict[str, Any]], limit: int = 12) -> Table | None:
    """Participants per region, largest first, with the registry's labels (Kemendagri's names)."""
    if not by_region:
        return None
    table = Table(title="Participants by region", title_justify="left")
    for column in ("province", "regency/city", "district"):
        table.add_column(column)
    table.add_column("count", justify="right")
    ranked = sorted(by_region, key=lambda r: (-r["count"], r["province"] or "", r["regency"] or ""))
    for r in ranked[:limit]:
        table.add_row(r["province"] or "-", r["regency"] or "-", r["district"] or "-", f"{r['count']:,}")
    if len(ranked) > limit:
        table.add_row(f"... {len(ranked) - limit} more", "", "", f"{sum(r['count'] for r in ranked[limit:]):,}")
    return table

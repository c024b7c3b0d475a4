"""`make up` / `make down`: start the provider simulator and each service's urgent and bulk processes
in the background (`make up REPLICAS=2`: two processes of each consumer role).

Each service runs as `pbi run <svc> --role urgent` (what a patient's path needs, on the service's own
port) and `pbi run <svc> --role bulk` (the rest, health and metrics on port + 100), like its two
Kubernetes Deployments. Priority is the operating system's: the bulk processes start at CPU niceness
shared.process.BULK_NICENESS, so on this shared machine a wave's work yields to an emergency's. Replica n (from 1)
serves on the ports + 200 x (n - 1): replica 2 of the registry on 8281 (urgent) and 8381 (bulk). Its
consumers join the same consumer groups as replica 1 (distinct members): partition assignment,
rebalances and the outbox relay's single-writer lock work as with Kubernetes replicas.

Logs go to .run/logs/<name>.log, pids to .run/pids/<name>.pid. `up` returns once every /readyz
answers 200 and is harmless when things already run; `down` stops exactly what `up` started (the
pids it recorded, whatever REPLICAS was), leaving Kafka and PostgreSQL to `make infra-down`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.process import BULK_NICENESS, lower_cpu_priority
from shared.secrets import LOCAL_ENV_FILE
from shared.settings import Role, port_for

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / ".run"
LOGS, PIDS = RUN / "logs", RUN / "pids"
PBI = str(ROOT / ".venv" / "bin" / "pbi")

# Service -> the port of its urgent process (CONTRACT.md); in start order (intake, the front door, last).
SERVICES = {"eligibility": 8083, "registry": 8081, "notifier": 8082, "intake": 8080}
# Intake's urgent process is the HTTP API alone (no consumer): one is enough, it owns the contract's port.
NOT_REPLICATED = {("intake", Role.URGENT)}
REPLICA_PORT_OFFSET = 200
READY_TIMEOUT_S = float(os.environ.get("PBI_READY_TIMEOUT", "120"))


@dataclass(frozen=True)
class Process:
    name: str
    argv: tuple[str, ...]
    port: int  # where it answers its readiness path
    path: str = "/readyz"
    http_port: int | None = None  # HTTP_PORT for `pbi run` (which adds the bulk offset itself)
    niceness: int = 0


def plan(replicas: int = 1) -> list[Process]:
    """Every process `make up` runs, in start order."""
    out = [Process("simulator", ("simulator",), 8090, "/_sim/health")]
    for service, port in SERVICES.items():
        for role in (Role.BULK, Role.URGENT):
            for n in range(1, replicas + 1):
                if n > 1 and (service, role) in NOT_REPLICATED:
                    continue
                http_port = port + REPLICA_PORT_OFFSET * (n - 1)
                out.append(
                    Process(
                        f"{service}-{role.value}" + (f"-{n}" if n > 1 else ""),
                        (service, "--role", role.value),
                        port_for(http_port, role),
                        http_port=http_port,
                        niceness=BULK_NICENESS if role is Role.BULK else 0,
                    )
                )
    return out


def _pid(name: str) -> int | None:
    try:
        pid = int((PIDS / f"{name}.pid").read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def _ready(port: int, path: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _start(p: Process, env: dict[str, str]) -> int:
    log = open(LOGS / f"{p.name}.log", "ab")  # noqa: SIM115 - the child keeps it
    if p.http_port is not None:
        env = {**env, "HTTP_PORT": str(p.http_port)}

    proc = subprocess.Popen(
        [PBI, "run", *p.argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
        env=env,
        # In the child, before `pbi` starts (everything it runs inherits it): the process's niceness and its new
        # session's, or the scheduler's per-session groups would keep it at full weight (shared.process).
        preexec_fn=lower_cpu_priority(p.niceness) if p.niceness else None,  # noqa: PLW1509 - no threads here
    )
    return proc.pid


def up(replicas: int = 1) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    # This checkout runs the local system: its services, and the `pbi` CLI run here by hand, use the
    # local secrets (shared/secrets.py reads this file; the environment still wins).
    LOCAL_ENV_FILE.write_text("PBI_ENV=local\n")
    env = {**os.environ, "PBI_ENV": "local"}
    processes = plan(replicas)
    for p in processes:
        where = f"log: {LOGS / (p.name + '.log')}"
        if _pid(p.name):
            print(f"[up] {p.name:<18} already running (pid {_pid(p.name)}), {where}")
            continue
        if _ready(p.port, p.path):
            print(f"[up] {p.name:<18} port {p.port} already answers: not started by `make up`, left alone")
            continue
        pid = _start(p, env)
        (PIDS / f"{p.name}.pid").write_text(str(pid))
        nice = f", niceness {p.niceness}" if p.niceness else ""
        print(f"[up] {p.name:<18} started (pid {pid}{nice}) on :{p.port}, {where}")
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = {p.name: p for p in processes}
    while pending and time.monotonic() < deadline:
        for name, p in list(pending.items()):
            if _ready(p.port, p.path):
                print(f"[up] {name:<18} ready on http://127.0.0.1:{p.port}")
                del pending[name]
            elif (PIDS / f"{name}.pid").exists() and not _pid(name):
                print(f"[up] {name:<18} exited during start-up; last lines of its log:", file=sys.stderr)
                print("\n".join((LOGS / f"{name}.log").read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
                return 1
        time.sleep(0.5)
    if pending:
        print(f"[up] not ready after {READY_TIMEOUT_S:.0f}s: {', '.join(pending)} (see {LOGS})", file=sys.stderr)
        return 1
    print(
        "[up] all services ready: intake :8080, registry :8081 (/dashboard), notifier :8082, eligibility :8083"
        " (bulk processes: health and metrics on :8180-8183)"
    )
    return 0


def down() -> int:
    # Whatever `up` recorded, front door first, the simulator last.
    names = sorted((p.stem for p in PIDS.glob("*.pid")), key=lambda n: (n == "simulator", not n.startswith("intake")))
    for name in names:
        pid = _pid(name)
        if pid is None:
            (PIDS / f"{name}.pid").unlink(missing_ok=True)
            continue
        print(f"[down] stopping {name} (pid {pid})")
        os.killpg(pid, signal.SIGTERM)
        for _ in range(40):
            if _pid(name) is None:
                break
            time.sleep(0.25)
        else:
            os.killpg(pid, signal.SIGKILL)
        (PIDS / f"{name}.pid").unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy.local.run")
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", "1")))
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    return up(args.replicas) if args.command == "up" else down()


if __name__ == "__main__":
    sys.exit(main())

"""`make up` / `make down`: start the provider simulator and the four services in the background.

Logs go to .run/logs/<name>.log, pids to .run/pids/<name>.pid. `up` returns once every
/readyz answers 200 and is harmless when things already run; `down` stops exactly what
`up` started (the pids it recorded), leaving Kafka and PostgreSQL to `make infra-down`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.secrets import LOCAL_ENV_FILE

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / ".run"
LOGS, PIDS = RUN / "logs", RUN / "pids"
PBI = str(ROOT / ".venv" / "bin" / "pbi")

# name -> (pbi run argument, port, readiness path)
PROCESSES: dict[str, tuple[str, int, str]] = {
    "simulator": ("simulator", 8090, "/_sim/health"),
    "eligibility": ("eligibility", 8083, "/readyz"),
    "registry": ("registry", 8081, "/readyz"),
    "notifier": ("notifier", 8082, "/readyz"),
    "intake": ("intake", 8080, "/readyz"),
}
READY_TIMEOUT_S = float(os.environ.get("PBI_READY_TIMEOUT", "120"))


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


def up() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    # This checkout runs the local system: its services, and the `pbi` CLI run here by hand, use the
    # local secrets (shared/secrets.py reads this file; the environment still wins).
    LOCAL_ENV_FILE.write_text("PBI_ENV=local\n")
    env = {**os.environ, "PBI_ENV": "local"}
    for name, (arg, port, path) in PROCESSES.items():
        if _pid(name):
            print(f"[up] {name:<12} already running (pid {_pid(name)}), log: {LOGS / (name + '.log')}")
            continue
        if _ready(port, path):
            print(f"[up] {name:<12} port {port} already answers: not started by `make up`, left alone")
            continue
        log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [PBI, "run", arg], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True, env=env
        )
        (PIDS / f"{name}.pid").write_text(str(proc.pid))
        print(f"[up] {name:<12} started (pid {proc.pid}) on :{port}, log: {LOGS / (name + '.log')}")
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = dict(PROCESSES)
    while pending and time.monotonic() < deadline:
        for name, (_, port, path) in list(pending.items()):
            if _ready(port, path):
                print(f"[up] {name:<12} ready on http://127.0.0.1:{port}")
                del pending[name]
            elif (PIDS / f"{name}.pid").exists() and not _pid(name):
                print(f"[up] {name:<12} exited during start-up; last lines of its log:", file=sys.stderr)
                print("\n".join((LOGS / f"{name}.log").read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
                return 1
        time.sleep(0.5)
    if pending:
        print(f"[up] not ready after {READY_TIMEOUT_S:.0f}s: {', '.join(pending)} (see {LOGS})", file=sys.stderr)
        return 1
    print("[up] all services ready: intake :8080, registry :8081 (/dashboard), notifier :8082, eligibility :8083")
    return 0


def down() -> int:
    for name in reversed(list(PROCESSES)):
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


if __name__ == "__main__":
    sys.exit({"up": up, "down": down}[sys.argv[1]]())

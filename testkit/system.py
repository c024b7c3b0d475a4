"""The whole system as separate processes (the provider simulator and the four services), each on a
free port, sharing one fresh database and one topic prefix: what `make up` runs, isolated per test
session. Used by the end-to-end and browser tests, the demo check, the benchmarks and the chaos runs.
Unlike `make up`'s, its processes never outlive the process that started them (`shared.process`), even
when that one is killed before it could stop them."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.process import BULK_NICENESS, lower_cpu_priority, start_owned
from shared.settings import BULK_PORT_OFFSET

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"  # what a test run leaves for people to read (service logs, screenshots)
PBI = str(Path(sys.executable).parent / "pbi")
SERVICES = ("eligibility", "registry", "notifier", "intake")


_lower_priority = lower_cpu_priority(BULK_NICENESS)  # the process's and its session's (shared.process)


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(also_free_above: int = 0) -> int:
    """A port free now, and `port + also_free_above` too (a bulk process's port), below the kernel's ephemeral
    range: every outgoing connection (Kafka, PostgreSQL) takes a local port from that range, and one took a
    bulk process's port between this choice and the bind once (the bench's registry-bulk died of EADDRINUSE)."""
    low = _ephemeral_ports()[0]
    for _ in range(1000):
        port = random.randrange(20000, low - also_free_above)
        if _bindable(port) and (not also_free_above or _bindable(port + also_free_above)):
            return port
    raise RuntimeError(f"no free port pair below {low}")


@dataclass
class RunningSystem:
    env: dict[str, str]
    ports: dict[str, int]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str, timeout: float = 90) -> None:
        """`name` is a service (`--role all`), `<service>-urgent` or `<service>-bulk` (one role, as `make up`
        runs them: the bulk one at lower CPU priority and on its service's port + 100), or the simulator."""
        self.launch(name)
        self.wait_ready(name, timeout)

    def launch(self, name: str) -> None:
        """Starts `name`'s process (as `start`) without waiting until it is ready. `<service>-<role>-<n>` is
        replica n of a role (from 2): its own HTTP port, the same consumer groups."""
        service, role, http_port = self.command_of(name)
        env = {**self.env, "HTTP_PORT": str(http_port)}
        log = (self.log_dir / f"{name}.log").open("ab")
        cmd = [PBI, "run", service] + (["--port", str(self.ports[name])] if name == "simulator" else [])
        cmd += ["--role", role] if role else []
        # Its own process group (a kill reaches its children too), and killed by the kernel when this process
        # ends, however it ends: a test run stopped by a signal never runs its fixtures' teardown.
        self.processes[name] = start_owned(
            cmd,
            then=_lower_priority if role == "bulk" else None,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def command_of(self, name: str) -> tuple[str, str, int]:
        """`name`'s service, role ("" for `--role all`) and HTTP_PORT (a bulk process serves on it + 100)."""
        service, _, rest = name.partition("-")
        role, _, replica = rest.partition("-")
        if not replica:
            return service, role, self.ports[service]
        return service, role, self.ports[name] - (BULK_PORT_OFFSET if role == "bulk" else 0)

    def names_of(self, service: str) -> list[str]:
        """The running processes of a service (one with `--role all`, two with roles, more with replicas)."""
        return [n for n in self.processes if n == service or n.startswith(service + "-")]

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        path = "/_sim/health" if name == "simulator" else "/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.processes[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}) during start-up:\n{self.log_tail(name)}")
            try:
                if httpx.get(self.url(name) + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{name} not ready within {timeout}s:\n{self.log_tail(name)}")

    def check_running(self) -> None:
        """Raise if a process exited by itself (a wait for its work would only time out, minutes later)."""
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.log_tail(name)}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.processes)[::-1]:
            self.kill(name, signal.SIGTERM)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


def plan_processes(roles: bool, replicas: int = 1) -> tuple[list[str], dict[str, int]]:
    """The services' process names (the simulator's aside) and every name's port (a free one per service)."""
    if replicas > 1 and not roles:
        raise ValueError("replicas need roles (as `make up REPLICAS=n`)")
    ports = {name: free_port(BULK_PORT_OFFSET) for name in ("simulator", *SERVICES)}
    names = [f"{s}-{r}" for s in SERVICES for r in ("urgent", "bulk")] if roles else list(SERVICES)
    ports |= {f"{s}-urgent": ports[s] for s in SERVICES} | {f"{s}-bulk": ports[s] + BULK_PORT_OFFSET for s in SERVICES}
    for n in range(2, replicas + 1):
        for s in SERVICES:
            http_port = free_port(BULK_PORT_OFFSET)
            ports[f"{s}-bulk-{n}"] = http_port + BULK_PORT_OFFSET
            names.append(f"{s}-bulk-{n}")
            if s != "intake":  # intake's urgent process is the HTTP API alone: one owns the contract's port
                ports[f"{s}-urgent-{n}"] = http_port
                names.append(f"{s}-urgent-{n}")
    return names, ports


def start_system(
    database_url: str,
    kafka: str,
    topic_prefix: str,
    log_dir: Path,
    extra_env: dict[str, str | None] | None = None,
    roles: bool = False,
    replicas: int = 1,
) -> RunningSystem:
    """`roles`: each service as an urgent and a bulk process (`make up`'s topology), else one `--role all`.
    `replicas` (with roles, as `make up REPLICAS=n`): n processes of each consumer role, named
    `<service>-<role>-<n>` from the second; intake's urgent process (the HTTP API, no consumer) stays one."""
    log_dir.mkdir(parents=True, exist_ok=True)
    names, ports = plan_processes(roles, replicas)
    simulator = f"http://127.0.0.1:{ports['simulator']}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "TOPIC_PREFIX": topic_prefix,
        "KAFKA_PARTITIONS_OVERRIDE": "3",
        "LOG_JSON": "true",
        "PBI_ENV": "local",  # local secrets (shared/secrets.py): a test system, never a deployment
        # The notifier talks to the local provider simulator; it calls the notifier's webhooks back.
        "WHATSAPP_API_BASE": simulator,
        "TWILIO_API_BASE": simulator,
        "SIMULATOR_WEBHOOK_BASE": f"http://127.0.0.1:{ports['notifier']}",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['notifier']}",
        **(extra_env or {}),
    }
    # None in extra_env removes a variable (e.g. the partition override, to get the catalogue's counts).
    env = {k: v for k, v in env.items() if v is not None}
    system = RunningSystem(env, ports, log_dir)
    try:
        # All at once, as replicas start (each migrates its own schema; intake and registry share the keys'
        # schema under its advisory lock): their start-ups overlap instead of adding up.
        for name in ("simulator", *names):
            system.launch(name)
        for name in ("simulator", *names):
            system.wait_ready(name)
    except Exception:
        system.stop()
        raise
    return system

"""BENCH_PROFILE=1: run a service under pyinstrument and save its profile when it stops.

    .venv/bin/python -m bench.stage_profile SERVICE     (what `pbi run SERVICE` runs, profiled)

The profiler samples the main thread (the service's event loop, where the HTTP handlers, the
consumers and the outbox relay run) with async_mode="disabled", so waiting in the event loop's
select() shows as idle time instead of being attributed to whichever coroutine awaited. Threads
(eligibility's emergency lane) are not sampled. On exit the profile goes to
`.run/profiles/<service>-<stamp>.html` and `.txt` (BENCH_PROFILE_DIR overrides the directory).

uvicorn re-raises SIGTERM once its graceful shutdown is done; with the default handler that would
kill the process before atexit runs, so SIGTERM is turned into sys.exit(0) here.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

from shared.process import start_owned
from testkit import system as e2e_system
from testkit.system import ROOT, RunningSystem

PROFILE_DIR = Path(os.environ.get("BENCH_PROFILE_DIR", ROOT / ".run" / "profiles"))
INTERVAL_S = float(os.environ.get("BENCH_PROFILE_INTERVAL", "0.005"))  # smaller: finer, and bigger HTML files


class ProfiledSystem(RunningSystem):
    """The e2e system, with each service (not the provider simulator) started under the profiler. `launch`,
    not `start`: start_system launches every process, then waits for each (since a94a620 an override of `start`
    alone was never called, and the services ran unprofiled). As the runner's, a service dies with the bench
    process however that ends: with SIGTERM here, so that it saves its profile."""

    def launch(self, name: str) -> None:
        if name == "simulator":
            super().launch(name)
            return
        env = {**self.env, "HTTP_PORT": str(self.ports[name]), "BENCH_PROFILE_DIR": str(PROFILE_DIR)}
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = start_owned(
            [sys.executable, "-m", "bench.stage_profile", name],
            sig=signal.SIGTERM,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )


def start_profiled_system(
    database_url: str, kafka: str, topic_prefix: str, log_dir: Path, extra_env: dict[str, str | None] | None = None
) -> RunningSystem:
    """testkit.system.start_system (same environment, ports and order), with ProfiledSystem."""
    with mock.patch.object(e2e_system, "RunningSystem", ProfiledSystem):
        return e2e_system.start_system(database_url, kafka, topic_prefix, log_dir, extra_env)


def main(service: str) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=INTERVAL_S, async_mode="disabled")
    started = time.strftime("%Y%m%d-%H%M%S")

    def save() -> None:
        session = profiler.stop()
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
        base = PROFILE_DIR / f"{service}-{started}-{os.getpid()}"
        base.with_suffix(".html").write_text(profiler.output_html())
        base.with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False, timeline=False)
        )
        print(f"profile of {service} ({session.duration:.0f} s, {session.sample_count:,} samples): {base}.html/.txt")

    atexit.register(save)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler.start()
    from pbi_cli.main import app

    sys.argv = ["pbi", "run", service]
    app()


if __name__ == "__main__":
    main(sys.argv[1])

"""shared.process: a child started with `start_owned` ends when the process that started it ends, however
that ends (SIGKILL, where no teardown runs), and not before: not when the thread that started it ends.

Each test starts an owner process (OWNER below) that starts an echo child the way testkit.system starts a
service (its own session, so a signal to the owner's group does not reach it). The child reads from and
writes to pipes this test holds, so it never ends for the owner's pipes closing: only a signal ends it.
An answer to a line written after the owner (or its starting thread) has ended proves it was not killed:
the kernel sends the parent-death signal while the ending thread exits, so it would be pending by then."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from shared.process import AUTOGROUP, lower_cpu_priority, start_owned
from testkit.polling import eventually
from testkit.system import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")

OWNER = """
import os, subprocess, sys, threading, time
from shared.process import start_owned

child_in, child_out, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
echo = [sys.executable, "-c", "import sys\\nfor line in sys.stdin: print(line, end='', flush=True)"]
popen = dict(stdin=child_in, stdout=child_out, start_new_session=True)
if how == "plain":
    child = subprocess.Popen(echo, **popen)
elif how == "main":
    child = start_owned(echo, **popen)
else:  # from a thread that ends at once
    started = []
    thread = threading.Thread(target=lambda: started.append(start_owned(echo, **popen)))
    thread.start()
    thread.join()
    while os.path.exists(f"/proc/self/task/{thread.native_id}"):  # until it has ended for the kernel too
        time.sleep(0.01)
    child = started[0]
os.close(child_in)
os.close(child_out)
print(child.pid, flush=True)
sys.stdin.read()  # until killed
"""


@dataclass
class Started:
    owner: subprocess.Popen[bytes]
    child: psutil.Process
    to_child: int
    from_child: int

    def answers(self) -> bool:
        """Whether the child echoes a line (False: it ended, its output pipe closed)."""
        try:
            os.write(self.to_child, b"ping\n")
        except BrokenPipeError:
            return False
        got = b""
        while not got.endswith(b"\n"):
            chunk = os.read(self.from_child, 64)
            if not chunk:
                return False
            got += chunk
        return got == b"ping\n"

    async def gone(self) -> bool:
        try:
            return not self.child.is_running() or self.child.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True


@contextmanager
def owner_with_child(how: str) -> Iterator[Started]:
    child_in, to_child = os.pipe()
    from_child, child_out = os.pipe()
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(child_in), str(child_out), how],
        pass_fds=(child_in, child_out),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    os.close(child_in)
    os.close(child_out)
    child: psutil.Process | None = None
    try:
        assert owner.stdout is not None
        child = psutil.Process(int(owner.stdout.readline()))
        yield Started(owner, child, to_child, from_child)
    finally:
        owner.kill()
        owner.wait()
        if child is not None and child.is_running():
            child.kill()
        os.close(to_child)
        os.close(from_child)


def kill_owner(started: Started) -> None:
    started.owner.kill()  # the owner alone, as a signal to pytest: the child's session is its own
    started.owner.wait()


async def test_a_child_ends_when_its_owner_is_killed() -> None:
    with owner_with_child("main") as started:
        assert started.answers()
        kill_owner(started)
        await eventually(started.gone, timeout=30)


async def test_a_child_started_from_a_thread_that_ended_lives_until_its_owner_ends() -> None:
    """An asyncio.to_thread worker, say: the kernel watches the thread that forked, so start_owned forks on a
    thread that lasts."""
    with owner_with_child("thread") as started:
        assert started.answers()  # its starting thread has ended
        kill_owner(started)
        await eventually(started.gone, timeout=30)


def test_without_it_a_child_outlives_its_killed_owner() -> None:
    """What the tests above guard against (and how they would see it): the orphan still answers."""
    with owner_with_child("plain") as started:
        kill_owner(started)
        assert started.answers()


def test_then_runs_in_the_child_before_its_command() -> None:
    """testkit.system combines it with a bulk process's lower priority."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    child = start_owned(
        [sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
        then=lower_cpu_priority(3),
        stdout=subprocess.PIPE,
    )
    out, _ = child.communicate(timeout=30)
    assert int(out) == min(ours + 3, 19)


def _autogroup_nice(text: str) -> int:
    """`/autogroup-123 nice 5` -> 5."""
    return int(text.split()[-1])


needs_autogroup = pytest.mark.skipif(not Path(AUTOGROUP).exists(), reason="no autogroup on this kernel")


@needs_autogroup
def test_a_process_leading_its_own_session_has_its_sessions_group_lowered_too() -> None:
    """With autogroup the scheduler shares the CPU between sessions at their groups' nice values: a bulk
    process's own niceness alone left it at full weight against the urgent processes (each in its own session)."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    show = f"import os; print(os.getpriority(os.PRIO_PROCESS, 0)); print(open('{AUTOGROUP}').read())"
    child = start_owned(
        [sys.executable, "-c", show],
        then=lower_cpu_priority(5),
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = child.communicate(timeout=30)
    nice, group = out.splitlines()[:2]
    assert int(nice) == min(ours + 5, 19)
    assert _autogroup_nice(group) == min(ours + 5, 19)


@needs_autogroup
def test_a_process_in_its_launchers_session_leaves_the_sessions_group_alone() -> None:
    """Its group is its launcher's: lowering it would lower the launcher and everything else in its session."""
    before = Path(AUTOGROUP).read_text()
    child = start_owned([sys.executable, "-c", "pass"], then=lower_cpu_priority(5))
    assert child.wait(timeout=30) == 0
    assert Path(AUTOGROUP).read_text() == before

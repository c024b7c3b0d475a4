"""Child processes that never outlive the process that started them, however it ends (SIGKILL too).

On Linux the kernel does it: PR_SET_PDEATHSIG, set in the child between fork and exec, sends the child a
signal when its parent ends. Elsewhere nothing is set, silently: the owner stops its children as before.

The parent the kernel watches is the *thread* that forked, not the process (prctl(2)): a child started
from a short-lived thread (an `asyncio.to_thread` worker ends when its loop's executor shuts down) would
be killed when that thread ends, its owner still running. So `start_owned` forks on the main thread when
called there, and otherwise on one thread of this module that lives as long as the process.

For the processes a test or a bench starts (testkit/system.py, bench/); never for those meant to outlive
their launcher (`make up`'s services, deploy/local/run.py)."""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Looked up once, here: never between fork and exec, where loading a library could wait for a lock that
# another thread of the parent held at the fork.
_PRCTL = _find_prctl()


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when its parent (the thread that forked it) ends.
    Whether it could: False where there is no PR_SET_PDEATHSIG (not Linux), having done nothing."""
    return _PRCTL is not None and _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def dying_with_parent(sig: int = signal.SIGKILL, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A Popen preexec_fn: `die_with_parent(sig)`, then `then` (another preexec_fn, e.g. a lower priority).
    Made in the parent: a child whose parent ended before it asked ends at once instead of running on."""
    parent = os.getpid()

    def preexec() -> None:
        if die_with_parent(sig) and os.getppid() != parent:
            os._exit(1)
        if then is not None:
            then()

    return preexec


# The niceness every launcher starts a bulk role's process at (`make up`: deploy/local/run.py; the bench, the
# chaos harness and the tests: testkit/system.py), and intake's bulk worker takes itself (services/intake/
# bulk_worker.py), so that on a shared machine a wave's work yields to an emergency's. Docker Compose's
# `cpu_shares: 335` for the bulk containers is this niceness's weight.
BULK_NICENESS = 5

AUTOGROUP = "/proc/self/autogroup"  # Linux's scheduling group of this process's session (sched(7), "autogroup")


def lower_cpu_priority(by: int) -> Callable[[], None]:
    """A Popen preexec_fn (run after `start_new_session`'s setsid): this process's niceness raised by `by`, and,
    when it leads its own session, its session's scheduling group's too.

    Why both: with autogroup on (`/proc/sys/kernel/sched_autogroup_enabled`, the default of most Linux kernels,
    this VM's included) the scheduler shares the CPU between sessions first, each at its group's nice value, and
    a process's own niceness only counts against processes of its own session. A bulk process started in a
    session of its own at niceness 5 competed at full weight: measured with two busy processes on one core, 49% /
    51% with the process's niceness alone, 74% / 26% with the group's too (as without autogroup). Only a session
    leader's group is changed: any other process shares its group with its launcher. Where the file is missing
    (no autogroup) or refused, the process's niceness is all there is."""

    def lower() -> None:
        nice = os.getpriority(os.PRIO_PROCESS, 0) + by
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        if os.getsid(0) != os.getpid():
            return
        try:
            fd = os.open(AUTOGROUP, os.O_WRONLY)
        except OSError:
            return
        try:
            os.write(fd, str(min(nice, 19)).encode())
        except OSError:
            pass
        finally:
            os.close(fd)

    return lower


def start_owned(
    args: Sequence[str], *, sig: int = signal.SIGKILL, then: Callable[[], None] | None = None, **popen: Any
) -> subprocess.Popen[Any]:
    """`subprocess.Popen(args, **popen)` whose process is sent `sig` when this process ends, started from a
    thread that lasts as long as this process. `then`: run in the child before exec (a preexec_fn)."""
    preexec = dying_with_parent(sig, then)
    return _on_lasting_thread(lambda: subprocess.Popen(args, preexec_fn=preexec, **popen))  # noqa: PLW1509


# The launcher thread, for callers on other threads than the main one.
_jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_launcher: threading.Thread | None = None
_launcher_lock = threading.Lock()


def _launch_forever() -> None:
    while True:
        job, done = _jobs.get()
        try:
            done.set_result(job())
        except BaseException as exc:  # the caller's to handle
            done.set_exception(exc)


def _on_lasting_thread(job: Callable[[], T]) -> T:
    """`job()` on the main thread (it ends with the process) or on the launcher thread (daemon: the same)."""
    global _launcher
    if threading.current_thread() is threading.main_thread():
        return job()
    with _launcher_lock:
        if _launcher is None:
            _launcher = threading.Thread(target=_launch_forever, name="owned-process-launcher", daemon=True)
            _launcher.start()
    done: Future[T] = Future()
    _jobs.put((job, done))
    return done.result()


def _forget_launcher() -> None:
    """In a forked child: the launcher thread was not copied (only the forking thread is)."""
    global _jobs, _launcher, _launcher_lock
    _jobs, _launcher, _launcher_lock = queue.SimpleQueue(), None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_launcher)

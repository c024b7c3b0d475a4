"""The bench's CPU figures count each process once (testkit.cpu): a child listed beside its parent, as each
PostgreSQL backend was beside its postmaster, is not counted twice, and a child that exited is still counted."""

from __future__ import annotations

import subprocess
import sys

from testkit.cpu import cpu_gauge_ms, tree_cpu_seconds

# Starts a child that burns about 0.3 CPU s and prints its pid once done; on a line of input it ends the child,
# reaps it and says so, and ends itself at the end of its input.
PARENT = r"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
sys.stdin.readline()  # a line (or EOF): the child may end
child.stdin.close(); child.wait()
print("reaped", flush=True)
sys.stdin.read()  # until EOF
"""
CHILD = r"""
import os, sys, time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
print(os.getpid(), flush=True)
sys.stdin.read()
"""


def _start() -> tuple[subprocess.Popen[str], int]:
    parent = subprocess.Popen(
        [sys.executable, "-c", f"CHILD = {CHILD!r}\n" + PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


def test_a_child_listed_beside_its_parent_is_counted_once() -> None:
    parent, child = _start()
    try:
        tree = tree_cpu_seconds([parent.pid])
        listed_too = tree_cpu_seconds([parent.pid, child])
        alone = tree_cpu_seconds([child])
        assert alone >= 0.25
        # The old count (each listed pid's whole tree) gave tree + alone: the child twice.
        assert abs(listed_too - tree) < 0.05, (listed_too, tree, alone)
    finally:
        parent.communicate("")


def test_a_child_that_exited_is_counted_through_its_parent() -> None:
    parent, _ = _start()
    assert parent.stdin is not None and parent.stdout is not None
    try:
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "reaped"
        assert tree_cpu_seconds([parent.pid]) >= 0.25
    finally:
        parent.communicate("")


def test_the_speed_gauge_grows_with_the_work() -> None:
    one, three = cpu_gauge_ms(), cpu_gauge_ms(work=3)
    assert 0 < one < three

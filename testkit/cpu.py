"""CPU seconds of process trees, each process counted once: the cost model's raw figures (`make bench`).

A PostgreSQL backend is a child of the postmaster. Counting the postmaster's tree and every backend named
`postgres` beside it counted each backend twice: the bench reported 0.30 CPU ms per wave event for
PostgreSQL where its backends had used 0.18 (session 16, docs/performance.md). Here a process is counted
once whichever trees it is found in, and a process that exited is counted through its parent (the
children's times the parent reaped)."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Collection, Iterable

import psutil

_CLIENT_PORT = re.compile(r"\((\d+)\)")  # a backend's title: "postgres: user db 127.0.0.1(51234) idle"


def tree_cpu_seconds(pids: Iterable[int], skip: Collection[int] = ()) -> float:
    """User + system seconds of `pids` and their descendants, each process once; the subtree of a process in
    `skip` is left out (the bench starts the services: intake's validation worker is intake's, not the bench's
    too)."""
    seen: set[int] = set()
    total = 0.0
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen or pid in skip:
            continue
        seen.add(pid)
        try:
            proc = psutil.Process(pid)
            t = proc.cpu_times()
            # children_*: the children it reaped (a backend that ended, a worker that exited)
            total += t.user + t.system + t.children_user + t.children_system
            todo += [c.pid for c in proc.children()]
        except psutil.Error:
            continue
    return total


def infrastructure_pids() -> dict[str, list[int]]:
    """Kafka (its java process) and PostgreSQL (each postmaster: its backends and helpers are its children)."""
    found: dict[str, list[int]] = {"kafka": [], "postgresql": []}
    for p in psutil.process_iter(["name", "cmdline", "ppid"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if p.info["name"] == "java" and "kafka" in cmd.lower():
                found["kafka"].append(p.pid)
            elif _is_postgres(p.info["name"]) and not _is_postgres(psutil.Process(p.info["ppid"]).name()):
                found["postgresql"].append(p.pid)
        except psutil.Error:
            continue
    return found


def backends_by_client(owners: dict[int, str]) -> dict[int, tuple[str, float]]:
    """Each PostgreSQL backend connected over TCP by a process in `owners` (pid -> name, a process tree each),
    as pid -> (the owner's name, its CPU seconds so far). A connection is matched to its client by the client's
    port, which the backend's title shows."""
    client_of_port: dict[str, str] = {}
    tree_of = _tree_names(owners)
    for conn in psutil.net_connections(kind="tcp"):
        if conn.pid in tree_of and conn.laddr and conn.raddr:
            client_of_port[str(conn.laddr.port)] = tree_of[conn.pid]
    found: dict[int, tuple[str, float]] = {}
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if not _is_postgres(p.info["name"]):
                continue
            match = _CLIENT_PORT.search(" ".join(p.info["cmdline"] or []))
            if match and match.group(1) in client_of_port:
                t = p.cpu_times()
                found[p.pid] = (client_of_port[match.group(1)], t.user + t.system)
        except psutil.Error:
            continue
    return found


def by_client_seconds(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per client between two `backends_by_client` readings. A backend that ended in between is
    missing from `after` (its last seconds are the postmaster's, in the PostgreSQL total, not here)."""
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        start = before.get(pid, (name, 0.0))[1]
        used[name] = used.get(name, 0.0) + max(0.0, seconds - start)
    return used


def process_trees(roots: Iterable[int]) -> dict[int, list[int]]:
    """Each root's pid and its descendants', from one pass over the machine's processes (psutil's children() reads
    them all at every call). A root found below another root is a tree of its own, not part of that one."""
    children: dict[int, list[int]] = {}
    for p in psutil.process_iter(["ppid"]):
        children.setdefault(p.info["ppid"], []).append(p.pid)
    roots = list(roots)
    trees: dict[int, list[int]] = {}
    for root in roots:
        pids, todo = [], [root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo += [c for c in children.get(pid, []) if c not in roots]
        trees[root] = pids
    return trees


def _is_postgres(name: str | None) -> bool:
    return (name or "").startswith("postgres")


def _tree_names(owners: dict[int, str]) -> dict[int, str]:
    """pid -> owner name for every process of each owner's tree."""
    return {pid: owners[root] for root, pids in process_trees(owners).items() for pid in pids}


def cpu_gauge_ms(work: int = 1, repeats: int = 5) -> float:
    """The CPU milliseconds this process takes, now, for a fixed piece of pure-Python work (dicts, attributes,
    small ints, strings: what a handler does), the median of `repeats`; `work` multiplies the piece. The VM's
    speed moves by the hour (1.4x between two of session 16's runs of the same code), and the services' CPU per
    event with it: that figure over this gauge tells cheaper code from a faster hour."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        _gauge_work(20_000 * work)
        times.append(time.process_time() - start)
    return round(1000 * statistics.median(times), 2)


def _gauge_work(n: int) -> int:
    rows: dict[str, list[int]] = {}
    total = 0
    for i in range(n):
        key = f"3674{i:012d}"
        row = rows.setdefault(key[-3:], [0, 0])
        row[0] += 1
        row[1] = len(key)
        total += row[1] + i % 7
    return total

"""What `make bench` watches while the system works, cheaply enough not to slow it down.

- the services' own figures: `GET /metrics` (Prometheus text), one request per service per tick;
- consumer-group progress: the offsets each group committed (consumers commit only after their
  effect is in PostgreSQL) against the topic's end offsets, from the broker's admin API;
- CPU seconds per process (services, Kafka, PostgreSQL) and for the whole machine, to tell what a
  stage is bound by;
- peak RSS per service, sampled in a thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from testkit.cpu import backends_by_client, by_client_seconds, process_trees, tree_cpu_seconds

INFRASTRUCTURE = ("kafka", "postgresql")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient, base_url: str, names: Iterable[str] = ()) -> Samples:
    """Every sample of a service's /metrics, keyed by (name, sorted labels); only the metrics `names` if
    given (`?name[]=`: the service collects and renders only those, and there is less text to parse)."""
    r = await client.get(base_url + "/metrics", params={"name[]": list(names)}, timeout=10)
    r.raise_for_status()
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


class GroupProgress:
    """Committed offsets of consumer groups on one topic, against its end offsets."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.partitions: list[TopicPartition] = []

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()
        (described,) = await self.admin.describe_topics([self.topic])
        self.partitions = [TopicPartition(self.topic, p["partition"]) for p in described["partitions"]]
        if not self.partitions:
            raise RuntimeError(f"topic {self.topic} has no partitions (error {described['error_code']})")

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return dict(await self.consumer.end_offsets(self.partitions))

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        offsets = await self.admin.list_consumer_group_offsets(group, partitions=self.partitions)
        return {tp: (om.offset if om is not None and om.offset >= 0 else 0) for tp, om in offsets.items()}

    @staticmethod
    def behind(committed: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> int:
        """Offsets not yet committed. A transaction's commit marker takes an offset of its own and a
        consumer may stop just before it, so one offset short on a partition counts as caught up."""
        gaps = (end[tp] - committed.get(tp, 0) for tp in end)
        return sum(g for g in gaps if g > 1)


def backends_cpu_s(db: str) -> float:
    """CPU seconds used so far by the PostgreSQL processes serving `db` (their title names it)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        title = " ".join(proc.info["cmdline"] or ())
        if proc.info["name"] == "postgres" and f" {db} " in f"{title} ":
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
    return total


@dataclass
class CpuMeter:
    """CPU seconds (user + system) per named process tree, and the whole machine's busy time."""

    pids: dict[str, list[int]]
    start: dict[str, float] = field(default_factory=dict)
    machine_start: Any = None
    wall_start: float = 0.0
    backends: dict[int, tuple[str, float]] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        # The bench starts the services: their trees are counted under their own names only.
        own = {pid for pids in self.pids.values() for pid in pids}
        return {name: tree_cpu_seconds(pids, own - set(pids)) for name, pids in self.pids.items()}

    def _clients(self) -> dict[int, str]:
        """The processes whose PostgreSQL backends are told apart: every named one but the infrastructure."""
        return {pid: name for name, pids in self.pids.items() if name not in INFRASTRUCTURE for pid in pids}

    def begin(self) -> None:
        self.backends = backends_by_client(self._clients())
        self.start, self.machine_start, self.wall_start = self._now(), psutil.cpu_times(), time.perf_counter()

    def end(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall_start
        used = {name: max(0.0, s - self.start.get(name, 0.0)) for name, s in self._now().items()}
        by_client = by_client_seconds(self.backends, backends_by_client(self._clients()))
        m0, m1 = self.machine_start, psutil.cpu_times()
        # guest time is already part of user time; steal is time the hypervisor kept from us
        idle = ("idle", "iowait", "steal", "guest", "guest_nice")
        busy = sum(getattr(m1, f) - getattr(m0, f) for f in m1._fields if f not in idle)
        cores = psutil.cpu_count() or 1
        return {
            "seconds": round(wall, 2),
            "cpu_seconds": {k: round(v, 1) for k, v in used.items()},
            # PostgreSQL's seconds (in cpu_seconds["postgresql"]) by the service whose connection they served;
            # the rest is autovacuum, the WAL writer and backends that ended during the stage
            "postgresql_by_client": {k: round(v, 2) for k, v in sorted(by_client.items(), key=lambda kv: -kv[1])},
            "cores_used": {k: round(v / wall, 2) for k, v in used.items()} if wall else {},
            # jiffies and the two clocks disagree slightly: a saturated machine may show 101%
            "machine_busy_pct": min(100.0, round(100 * busy / (wall * cores), 1)) if wall else None,
        }


class RssSampler(threading.Thread):
    """Peak RSS (process and children) of each named process, every half second.

    The process trees are found again only every TREE_EVERY_S (a child such as intake's validation worker
    is started once): psutil's children() reads every process of the machine per call, and doing that for
    each service twice a second was half of the bench's own CPU, taken from the system it measures."""

    TREE_EVERY_S = 5.0

    def __init__(self, processes: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.peak: dict[str, float] = {}
        self.stop_flag = threading.Event()
        self._trees: dict[str, list[psutil.Process]] = {}
        self._found_at = float("-inf")

    def _find_trees(self) -> None:
        named = list(self.processes.items())
        found = process_trees(proc.pid for _, proc in named)
        self._trees = {
            name: [psutil.Process(pid) for pid in found[proc.pid] if psutil.pid_exists(pid)] for name, proc in named
        }
        self._found_at = time.monotonic()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            if time.monotonic() - self._found_at > self.TREE_EVERY_S or self._trees.keys() != self.processes.keys():
                try:
                    self._find_trees()
                except psutil.Error:
                    pass
            for name, tree in self._trees.items():
                rss = 0
                for p in tree:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        continue
                if rss:
                    self.peak[name] = max(self.peak.get(name, 0.0), rss / 2**20)
            self.stop_flag.wait(0.5)

"""deploy/local/kafka.sh after the project moves to another Kafka version: a broker cannot start on
metadata a newer one wrote, so local data of another version is deleted and formatted anew, and the
new data remembers its version. Runs the script with private directories and a fake java."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import tomllib
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "local" / "kafka.sh"
VERSION = tomllib.loads((SCRIPT.parents[1] / "versions.toml").read_text())["kafka"]["version"]

# Formats like StorageTool (meta.properties in log.dirs), then "starts" a broker that exits at once.
FAKE_JAVA = """#!/usr/bin/env bash
case "$*" in
  *-version*) echo 'openjdk version "17.0.9" 2023-10-17' >&2 ;;
  *random-uuid*) echo XwN7DkovWFid0RqWNCoecw ;;
  *StorageTool\\ format*)
    for a in "$@"; do case "$prev" in -c) dir="$(sed -n 's/^log.dirs=//p' "$a")" ;; esac; prev="$a"; done
    mkdir -p "$dir" && echo "version=1" >"$dir/meta.properties" ;;
  *) exit 3 ;;
esac
"""


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    java = tmp_path / "java"
    java.write_text(FAKE_JAVA)
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    libs = tmp_path / "cache" / f"kafka-{VERSION}" / "libs"
    libs.mkdir(parents=True, exist_ok=True)
    (libs / ".complete").touch()
    plain, controller, sasl = free_ports(3)
    env = {
        **os.environ,
        "PBI_STATE_DIR": str(tmp_path / "state"),
        "PBI_CACHE_DIR": str(tmp_path / "cache"),
        "PBI_NO_INSTALL": "1",
        "JAVA": str(java),
        "PBI_KAFKA_PORT": str(plain),
        "PBI_KAFKA_CONTROLLER_PORT": str(controller),
        "PBI_KAFKA_SASL_PORT": str(sasl),
    }
    return subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=env, timeout=120)


def test_data_of_another_kafka_version_is_formatted_anew(tmp_path: Path) -> None:
    data = tmp_path / "state" / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("written by 4.4.0\n")
    (data / ".kafka-version").write_text("4.4.0\n")
    (data / "__cluster_metadata-0").mkdir()

    result = start(tmp_path)  # the fake broker exits at once: the start fails after formatting

    assert f"not from Kafka {VERSION} (4.4.0): deleting it" in result.stderr
    assert not (data / "__cluster_metadata-0").exists()
    assert (data / "meta.properties").read_text() == "version=1\n"
    assert (data / ".kafka-version").read_text().strip() == VERSION


def test_data_of_this_version_is_kept(tmp_path: Path) -> None:
    data = tmp_path / "state" / "kafka" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("kept\n")
    (data / ".kafka-version").write_text(f"{VERSION}\n")

    result = start(tmp_path)

    assert "deleting it" not in result.stderr
    assert (data / "meta.properties").read_text() == "kept\n"

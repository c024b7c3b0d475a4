# Shared helpers for the local infrastructure scripts (sourced, not run).
set -euo pipefail

PBI_CACHE_DIR="${PBI_CACHE_DIR:-$HOME/.cache/pbi}"
PBI_STATE_DIR="${PBI_STATE_DIR:-$HOME/.local/state/pbi}"
mkdir -p "$PBI_CACHE_DIR" "$PBI_STATE_DIR"

say()  { printf '\033[1;34m[infra]\033[0m %s\n' "$*"; }
warn() { printf '\033[1;33m[infra]\033[0m %s\n' "$*" >&2; }
die()  { printf '\033[1;31m[infra] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Whether $2 was written to the log $3 (default $LOG) after its first $1 bytes. grep reads to the end: `grep -q`
# would stop at the match, tail would die of SIGPIPE, and pipefail would call the line absent. That happened
# whenever the broker wrote over 64 KB after starting (a restart with many consumer groups) and made
# `make infra-up` wait for a broker that was up.
log_since() { tail -c +"$(($1 + 1))" "${3:-$LOG}" | grep -F -- "$2" >/dev/null; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root to run: $*"; fi; }

APT_UPDATED=""
apt_install() {
  [ -n "${PBI_NO_INSTALL:-}" ] && die "$* missing and PBI_NO_INSTALL is set: install $* yourself"
  command -v apt-get >/dev/null || die "cannot install $*: this is not a Debian-like machine (no apt-get). Install $* by hand or use Docker (deploy/compose)."
  if [ -z "$APT_UPDATED" ]; then say "apt-get update"; as_root apt-get update -qq || die "apt-get update failed: is the Debian package mirror reachable?"; APT_UPDATED=1; fi
  say "installing Debian packages: $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Who listens on a TCP port (best effort; empty when unknown).
port_owner() { (ss -ltnpH "sport = :$1" 2>/dev/null || true) | sed -n 's/.*users:((\("[^"]*"\).*/\1/p' | head -n1; }

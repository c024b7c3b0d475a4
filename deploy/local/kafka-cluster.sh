# A local Kafka cluster of KAFKA_BROKERS nodes (sourced by kafka.sh when KAFKA_BROKERS > 1, never run alone).
# Each node is a combined broker+controller (deploy/local/kafka/cluster.properties) from the same Maven jars as the
# single broker, with its own ports and data directory, so the single broker (9092-9094, $PBI_STATE_DIR/kafka)
# is never touched:
#   node i (1..N): client 127.0.0.1:$((PBI_KAFKA_CLUSTER_PORT + i - 1)) (default 19092, 19093, 19094),
#                  controller 127.0.0.1:$((PBI_KAFKA_CLUSTER_CONTROLLER_PORT + i - 1)) (default 19192...),
#                  data, config, pid and log in $PBI_STATE_DIR/kafka-cluster/node-i.
# Replication follows the node count (shared.topics.replication_for): 3 copies and min.insync.replicas=2 from
# three nodes up, so an acks=all write survives one node down and is refused (not lost) with two down.

CLUSTER_DIR="$PBI_STATE_DIR/kafka-cluster"
CLUSTER_PORT="${PBI_KAFKA_CLUSTER_PORT:-19092}"
CLUSTER_CONTROLLER_PORT="${PBI_KAFKA_CLUSTER_CONTROLLER_PORT:-19192}"
# How long a node may take to start (a restart reloads its partitions: 150 s and more on a loaded machine).
NODE_START_S="${PBI_KAFKA_NODE_START_S:-120}"
NODES="$KAFKA_BROKERS"

node_dir() { echo "$CLUSTER_DIR/node-$1"; }
client_port() { echo $((CLUSTER_PORT + $1 - 1)); }
controller_port() { echo $((CLUSTER_CONTROLLER_PORT + $1 - 1)); }
replication_factor() { if [ "$NODES" -ge 3 ]; then echo 3; else echo "$NODES"; fi; }
min_insync() { if [ "$(replication_factor)" -ge 3 ]; then echo 2; else echo 1; fi; }
bootstrap() { local i s=""; for i in $(seq 1 "$NODES"); do s="$s${s:+,}$HOST:$(client_port "$i")"; done; echo "$s"; }
voters() { local i s=""; for i in $(seq 1 "$NODES"); do s="$s${s:+,}$i@$HOST:$(controller_port "$i")"; done; echo "$s"; }

plan() {
  echo "# node client controller data (KAFKA_BROKERS=$NODES: replication $(replication_factor), min.insync.replicas $(min_insync))"
  for i in $(seq 1 "$NODES"); do echo "$i $HOST:$(client_port "$i") $HOST:$(controller_port "$i") $(node_dir "$i")/data"; done
}

node_config() {
  sed -e "s/@NODE_ID@/$1/" -e "s/@VOTERS@/$(voters)/" -e "s/@CLIENT_PORT@/$(client_port "$1")/" \
    -e "s/@CONTROLLER_PORT@/$(controller_port "$1")/" -e "s/@RF@/$(replication_factor)/" \
    -e "s/@MIN_ISR@/$(min_insync)/" "$here/kafka/cluster.properties"
  echo "log.dirs=$(node_dir "$1")/data"
}

node_pid() { local f; f="$(node_dir "$1")/kafka.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }

# One cluster id for every node, made once; data of another Kafka version is deleted (local test data).
cluster_id() {
  [ -f "$CLUSTER_DIR/cluster-id" ] || kjava kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 >"$CLUSTER_DIR/cluster-id"
  cat "$CLUSTER_DIR/cluster-id"
}

node_format() {
  local d data; d="$(node_dir "$1")"; data="$d/data"
  if [ -d "$data" ] && [ "$(cat "$data/.kafka-version" 2>/dev/null)" != "$KAFKA_VERSION" ]; then
    warn "node $1: data in $data is not from Kafka $KAFKA_VERSION: deleting it (local test data)"; rm -rf "$data"
  fi
  [ -f "$data/meta.properties" ] && return
  say "node $1: formatting KRaft storage in $data"
  mkdir -p "$data"
  kjava kafka.tools.StorageTool format -t "$(cluster_id)" -c "$d/server.properties" >>"$d/kafka.log" 2>&1 \
    || { tail -n 20 "$d/kafka.log" >&2; die "node $1: formatting Kafka storage failed (see $d/kafka.log)"; }
  echo "$KAFKA_VERSION" >"$data/.kafka-version"
}

# Launch node $1 in the background (no wait); its log offset is remembered so only new lines count.
node_launch() {
  local d; d="$(node_dir "$1")"; mkdir -p "$d"
  for p in $(client_port "$1") $(controller_port "$1"); do
    port_open $HOST "$p" && die "port $p (node $1) is already taken by $(port_owner "$p" || echo 'another program'). Stop it, or choose other ports with PBI_KAFKA_CLUSTER_PORT / PBI_KAFKA_CLUSTER_CONTROLLER_PORT."
  done
  node_config "$1" >"$d/server.properties"
  node_format "$1"
  wc -c <"$d/kafka.log" >"$d/log-offset" 2>/dev/null || echo 0 >"$d/log-offset"
  say "node $1: starting on $HOST:$(client_port "$1") (log: $d/kafka.log)"
  ( trap '' HUP; exec "$JAVA" "${JAVA_ARGS[@]}" kafka.Kafka "$d/server.properties" ) >>"$d/kafka.log" 2>&1 </dev/null &
  echo $! >"$d/kafka.pid"
}

node_wait() {
  local d; d="$(node_dir "$1")"
  for _ in $(seq 1 $((NODE_START_S * 2))); do
    node_pid "$1" >/dev/null || { tail -n 30 "$d/kafka.log" >&2; die "node $1 exited during start-up (see $d/kafka.log)"; }
    if port_open $HOST "$(client_port "$1")" && log_since "$(cat "$d/log-offset")" "Kafka Server started" "$d/kafka.log"; then
      say "node $1 is up"; return
    fi
    sleep 0.5
  done
  die "node $1 did not start within $NODE_START_S s (PBI_KAFKA_NODE_START_S; see $d/kafka.log)"
}

# Stop node $1: TERM and wait (a clean shutdown moves its leaderships first), or KILL (a crash) with $2=KILL.
node_stop() {
  local pid sig="${2:-TERM}"
  if pid="$(node_pid "$1")"; then
    say "node $1: stopping (pid $pid, SIG$sig)"; kill -s "$sig" "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { warn "node $1 did not stop in 30 s, killing"; kill -9 "$pid"; }
  fi
  rm -f "$(node_dir "$1")/kafka.pid"
}

cluster_start() {
  ensure_java; ensure_jars; mkdir -p "$CLUSTER_DIR"
  local i started=()
  for i in $(seq 1 "$NODES"); do
    if node_pid "$i" >/dev/null; then
      node_config "$i" | cmp -s - "$(node_dir "$i")/server.properties" \
        || warn "node $i runs with an older configuration: \`KAFKA_BROKERS=$NODES $0 stop\` then start applies it"
      continue
    fi
    node_launch "$i"; started+=("$i")
  done
  # The nodes need each other (a quorum of voters) before any of them says it started: launch all, then wait.
  for i in "${started[@]}"; do node_wait "$i"; done
  say "Kafka cluster of $NODES nodes up: KAFKA_BOOTSTRAP_SERVERS=$(bootstrap)"
}

cluster_main() {
  case "${1:-}" in
    start) cluster_start ;;
    # All at once: the last node stopped alone waits for a controller quorum that is already gone.
    stop) for i in $(seq 1 "$NODES"); do node_stop "$i" & done; wait ;;
    status)
      local down=0
      for i in $(seq 1 "$NODES"); do
        if pid="$(node_pid "$i")"; then echo "kafka node $i: running (pid $pid) on $HOST:$(client_port "$i")"
        else echo "kafka node $i: stopped"; down=1; fi
      done
      return $down ;;
    reset) for i in $(seq 1 "$NODES"); do node_stop "$i" & done; wait; say "deleting the cluster's data in $CLUSTER_DIR"; rm -rf "$CLUSTER_DIR" ;;
    config) node_config "${2:?usage: config NODE}" ;;
    plan) plan ;;
    bootstrap) bootstrap ;;
    # One node, for chaos runs: node-kill is a crash (SIGKILL), node-stop a clean shutdown, node-start waits.
    node-start) ensure_java; ensure_jars; node_pid "${2:?node}" >/dev/null || { node_launch "$2"; node_wait "$2"; } ;;
    node-stop) node_stop "${2:?node}" ;;
    node-kill) node_stop "${2:?node}" KILL ;;
    node-pid) node_pid "${2:?node}" ;;
    *) echo "usage: KAFKA_BROKERS=$NODES $0 start|stop|status|reset|plan|bootstrap|config N|node-start N|node-stop N|node-kill N|node-pid N" >&2; exit 2 ;;
  esac
}

#!/usr/bin/env bash
# Runs a three-node Apache Kafka KRaft cluster on loopback, without Docker, for the cluster fault tests
# (tests/cluster_faults_test.ts). Each node is a combined broker + controller; the three form the
# controller quorum. Reuses scripts/kafka.sh's jar cache (`scripts/kafka.sh fetch`).
#
#   scripts/kafka-cluster.sh start          # fetch, format (first time) and start all three; waits until every
#                                           # client port answers and the quorum has a leader; reports the time
#   scripts/kafka-cluster.sh stop           # stop every node started by `start` (SIGTERM, then SIGKILL after 30 s)
#   scripts/kafka-cluster.sh status         # one line per node; exit 0 when all three client ports answer
#   scripts/kafka-cluster.sh owned          # exit 0 when every node running was started by this script
#   scripts/kafka-cluster.sh kill N         # SIGKILL node N (1-3): a crash
#   scripts/kafka-cluster.sh pause N        # SIGSTOP node N: a frozen JVM (a long GC pause)
#   scripts/kafka-cluster.sh resume N       # SIGCONT node N
#   scripts/kafka-cluster.sh stop-node N    # stop node N gracefully (controlled shutdown)
#   scripts/kafka-cluster.sh start-node N   # start node N again (after kill or stop-node); waits for its port
#   scripts/kafka-cluster.sh restart N      # stop-node N, then start-node N
#   scripts/kafka-cluster.sh pid N          # the pid of node N
#   scripts/kafka-cluster.sh leader TOPIC PARTITION   # prints the node id leading that partition
#   scripts/kafka-cluster.sh controller     # prints the node id of the active controller (the quorum leader)
#   scripts/kafka-cluster.sh reset          # stop and delete the data folder
#
# Ports of node N (1-3), each a block of 100 from KAFKA_CLUSTER_BASE_PORT (39092):
#   client     39092 / 39192 / 39292   PLAINTEXT listener the pipeline uses (`--brokers`)
#   controller 39093 / 39193 / 39293   CONTROLLER listener (the KRaft quorum)
#   internal   39094 / 39194 / 39294   INTERNAL listener: replication between the brokers
#   proxied    39095 / 39195 / 39295   PROXIED listener: advertises 49095 / 49195 / 49295, for
#                                      clients that reach every node through a fault proxy
# Replication runs on its own listener so that a fault proxy on a client link (below) never slows
# or breaks replication, only what the pipeline sees.
#
# Fault proxies: Kafka clients connect to the addresses the brokers ADVERTISE in their metadata, not
# to the bootstrap address, so a proxy (tests/support/fault_proxy.ts) in front of a node only sees the
# pipeline's traffic when that node advertises the proxy's port. KAFKA_CLUSTER_ADVERTISED_PORTS lists,
# per node, the client port it advertises, e.g. "49092,39192,39292": node 1 listens on 39092 and
# advertises 49092, where the proxy listens and forwards to 39092. Set at `start` (or `start-node`);
# the proxy must then be running for clients to reach that node. The `leader` helper bootstraps on
# the internal listeners, whose advertised addresses are the nodes' own, so it works without proxies.
# For one client's links alone (the consumers', say), the PROXIED listener advertises the port 10000
# above its own on every node (49095 for node 1): a client bootstrapped on those ports reaches each
# node through the proxy listening there (forwarding to 39095), while the others use PLAINTEXT.
#
# Environment: KAFKA_VERSION and KAFKA_HOME (the jar cache, as scripts/kafka.sh), KAFKA_CLUSTER_DATA
# (${TMPDIR:-/tmp}/heartbeat-kafka-cluster: node-N/{data,logs,server.properties,kafka.pid}),
# KAFKA_CLUSTER_BASE_PORT (39092), KAFKA_CLUSTER_ADVERTISED_PORTS (the client ports),
# KAFKA_CLUSTER_HEAP_OPTS (-Xms256m -Xmx512m per node), KAFKA_START_TIMEOUT (seconds, 90).
#
# Every node: replication factor 3 and min.insync.replicas=2 by default, for the internal topics too
# (consumer offsets, transactions, share state), unclean leader election off, 6 partitions by default.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOME="${KAFKA_HOME:-$HOME/.cache/heartbeat/kafka-$KAFKA_VERSION}"
KAFKA_CLUSTER_DATA="${KAFKA_CLUSTER_DATA:-${TMPDIR:-/tmp}/heartbeat-kafka-cluster}"
KAFKA_CLUSTER_BASE_PORT="${KAFKA_CLUSTER_BASE_PORT:-39092}"
KAFKA_CLUSTER_HEAP_OPTS="${KAFKA_CLUSTER_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
read -r -a HEAP <<<"$KAFKA_CLUSTER_HEAP_OPTS"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODES=(1 2 3)

log() { printf 'kafka-cluster.sh: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

client_port() { echo $((KAFKA_CLUSTER_BASE_PORT + ($1 - 1) * 100)); }
controller_port() { echo $((KAFKA_CLUSTER_BASE_PORT + ($1 - 1) * 100 + 1)); }
internal_port() { echo $((KAFKA_CLUSTER_BASE_PORT + ($1 - 1) * 100 + 2)); }
proxied_port() { echo $((KAFKA_CLUSTER_BASE_PORT + ($1 - 1) * 100 + 3)); }
proxied_advertised_port() { echo $(($(proxied_port "$1") + 10000)); }
node_dir() { echo "$KAFKA_CLUSTER_DATA/node-$1"; }
pid_file() { echo "$(node_dir "$1")/kafka.pid"; }

# The client port node N advertises: its entry in KAFKA_CLUSTER_ADVERTISED_PORTS, else its own.
advertised_port() {
  local ports=() entry
  IFS=, read -r -a ports <<<"${KAFKA_CLUSTER_ADVERTISED_PORTS:-}"
  entry="${ports[$(($1 - 1))]:-}"
  [[ -n "$entry" ]] || entry="$(client_port "$1")"
  [[ "$entry" =~ ^[0-9]+$ ]] || { log "error: KAFKA_CLUSTER_ADVERTISED_PORTS entry '$entry' is not a port"; exit 2; }
  echo "$entry"
}

check_node() {
  [[ "${1:-}" =~ ^[123]$ ]] || { log "error: a node is 1, 2 or 3 (got '${1:-}')"; exit 2; }
}

node_pid() { cat "$(pid_file "$1")" 2>/dev/null || true; }
node_alive() { local pid; pid="$(node_pid "$1")"; [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }

voters() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("$n@127.0.0.1:$(controller_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

write_config() {
  local n="$1" dir; dir="$(node_dir "$1")"
  mkdir -p "$dir/logs"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$(client_port "$n"),INTERNAL://127.0.0.1:$(internal_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n"),PROXIED://127.0.0.1:$(proxied_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(advertised_port "$n"),INTERNAL://127.0.0.1:$(internal_port "$n"),PROXIED://127.0.0.1:$(proxied_advertised_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT
log.dirs=$dir/data
num.partitions=6
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
auto.create.topics.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
log.retention.hours=24
# three JVMs beside PostgreSQL and the pipeline on two cores: few threads each
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
PROPS
  cat >"$dir/log4j2.properties" <<PROPS
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/logs/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.server.name=org.apache.kafka.server
logger.server.level=INFO
PROPS
}

# The admin tools' log configuration: errors only, to stderr.
tools_log4j() {
  local file="$KAFKA_CLUSTER_DATA/tools-log4j2.properties"
  [[ -f "$file" ]] || {
    mkdir -p "$KAFKA_CLUSTER_DATA"
    cat >"$file" <<PROPS
rootLogger.level=ERROR
rootLogger.appenderRef.stderr.ref=stderr
appender.stderr.type=Console
appender.stderr.name=stderr
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=%p %m (%c)%n
PROPS
  }
  echo "$file"
}

# A Kafka tool class, with a small heap and the tools' log configuration.
tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$(tools_log4j)" -cp "$KAFKA_HOME/libs/*" "$@"
}

# On a failed start: the node's first error (the cause, before the shutdown noise), then its last lines.
show_failure() {
  local dir first; dir="$(node_dir "$1")"
  first="$(grep -m 1 -A 2 -E '^\[[^]]*\] (ERROR|FATAL) ' "$dir/logs/server.log" 2>/dev/null || true)"
  [[ -z "$first" ]] || printf 'node %s: first error in %s:\n%s\n' "$1" "$dir/logs/server.log" "$first" >&2
  tail -n 20 "$dir/logs/stdout.log" "$dir/logs/server.log" >&2 || true
}

cluster_id() {
  local file="$KAFKA_CLUSTER_DATA/cluster-id"
  [[ -s "$file" ]] || { mkdir -p "$KAFKA_CLUSTER_DATA"; tool kafka.tools.StorageTool random-uuid >"$file"; }
  cat "$file"
}

format_node() {
  local n="$1" dir; dir="$(node_dir "$1")"
  [[ -f "$dir/data/meta.properties" ]] && return 0
  log "node $n: formatting KRaft storage in $dir/data"
  if ! tool kafka.tools.StorageTool format -t "$(cluster_id)" -c "$dir/server.properties" \
    >"$dir/logs/format.log" 2>&1; then
    log "error: node $n: formatting failed; last lines of $dir/logs/format.log:"; tail -n 30 "$dir/logs/format.log" >&2
    exit 1
  fi
}

# Starts node N's JVM in a session of its own (a Ctrl-C meant for whoever started it does not reach it).
launch() {
  local n="$1" dir; dir="$(node_dir "$1")"
  local session=(); command -v setsid >/dev/null && session=(setsid)
  nohup "${session[@]}" java "${HEAP[@]}" -XX:+UseG1GC -XX:ParallelGCThreads=1 -XX:ConcGCThreads=1 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$dir/server.properties" \
    >>"$dir/logs/stdout.log" 2>&1 &
  echo $! >"$(pid_file "$n")"
}

# Waits until node N's client port answers; fails with its log when it exits or the time runs out.
wait_port() {
  local n="$1" port; port="$(client_port "$1")"
  for _ in $(seq 1 $((KAFKA_START_TIMEOUT * 2))); do
    port_open "$port" && return 0
    if ! node_alive "$n"; then
      log "error: node $n exited during start; last lines of its log:"; show_failure "$n"; exit 1
    fi
    sleep 0.5
  done
  log "error: node $n did not listen on 127.0.0.1:$port within $KAFKA_START_TIMEOUT s; last lines of its log:"
  show_failure "$n"; exit 1
}

# The active controller's node id, from the quorum (asked of the controllers themselves).
controller() {
  local n bootstrap=()
  for n in "${NODES[@]}"; do bootstrap+=("127.0.0.1:$(controller_port "$n")"); done
  local out
  out="$(tool org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller "$(IFS=,; echo "${bootstrap[*]}")" \
    describe --status 2>/dev/null)" || return 1
  awk -F: '/^LeaderId:/ { gsub(/[ \t]/, "", $2); print $2; found = 1 } END { exit !found }' <<<"$out"
}

# The node id leading a partition, asked on the internal listeners (the nodes' own addresses).
leader() {
  local topic="$1" partition="$2" n bootstrap=()
  for n in "${NODES[@]}"; do bootstrap+=("127.0.0.1:$(internal_port "$n")"); done
  local out
  out="$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(IFS=,; echo "${bootstrap[*]}")" \
    --describe --topic "$topic" 2>/dev/null)" || return 1
  awk -v p="$partition" '
    { for (i = 1; i < NF; i++) { if ($i == "Partition:") part = $(i + 1); if ($i == "Leader:") lead = $(i + 1) } }
    part == p && lead != "" { print lead; found = 1; exit }
    { part = ""; lead = "" }
    END { exit !found }' <<<"$out"
}

start() {
  local began=$SECONDS n up=0
  for n in "${NODES[@]}"; do port_open "$(client_port "$n")" && up=$((up + 1)); done
  if ((up == ${#NODES[@]})); then log "all three client ports already answer; not starting"; return 0; fi
  if ((up > 0)); then
    log "error: only $up of the 3 client ports answer ($(client_port 1), $(client_port 2), $(client_port 3)): run stop, or start-node the missing ones"
    exit 1
  fi
  bash "$HERE/kafka.sh" fetch
  for n in "${NODES[@]}"; do write_config "$n"; format_node "$n"; done
  log "starting a 3-node Kafka $KAFKA_VERSION cluster: clients on 127.0.0.1:$(client_port 1),$(client_port 2),$(client_port 3) (advertised $(advertised_port 1),$(advertised_port 2),$(advertised_port 3)), quorum on $(voters) (logs: $KAFKA_CLUSTER_DATA/node-N/logs)"
  for n in "${NODES[@]}"; do launch "$n"; done
  for n in "${NODES[@]}"; do wait_port "$n"; done
  local leader_id=""
  for _ in $(seq 1 $((KAFKA_START_TIMEOUT))); do
    leader_id="$(controller 2>/dev/null || true)"
    [[ -z "$leader_id" || "$leader_id" == "-1" ]] || break
    leader_id=""
    ((SECONDS - began < KAFKA_START_TIMEOUT)) || break
    sleep 1
  done
  if [[ -z "$leader_id" ]]; then
    log "error: the quorum elected no leader within $KAFKA_START_TIMEOUT s"; for n in "${NODES[@]}"; do show_failure "$n"; done
    exit 1
  fi
  log "cluster is up (pids $(node_pid 1) $(node_pid 2) $(node_pid 3), active controller: node $leader_id) in $((SECONDS - began)) s"
}

stop_node() {
  local n="$1" pid; pid="$(node_pid "$1")"
  [[ -n "$pid" ]] || { log "node $n: no pid file; nothing to stop"; return 0; }
  kill -CONT "$pid" 2>/dev/null || true # a paused node cannot shut down
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # the port can answer for a moment after the pid is gone: wait, so that a start right after finds it free
  for _ in $(seq 1 20); do port_open "$(client_port "$n")" || break; sleep 0.5; done
  rm -f "$(pid_file "$n")"; log "node $n: stopped"
}

start_node() {
  local n="$1" began=$SECONDS
  if node_alive "$n"; then log "node $n: already running (pid $(node_pid "$n"))"; return 0; fi
  if port_open "$(client_port "$n")"; then log "error: something else listens on 127.0.0.1:$(client_port "$n")"; exit 1; fi
  write_config "$n"
  format_node "$n"
  launch "$n"
  wait_port "$n"
  log "node $n: up (pid $(node_pid "$n")) in $((SECONDS - began)) s"
}

signal_node() {
  local n="$1" signal="$2" what="$3" pid; pid="$(node_pid "$1")"
  [[ -n "$pid" ]] && kill "-$signal" "$pid" 2>/dev/null || { log "error: node $n is not running"; exit 1; }
  log "node $n: $what (pid $pid)"
}

status() {
  local n all=0
  for n in "${NODES[@]}"; do
    local state="down"
    if port_open "$(client_port "$n")"; then state="answers"; elif node_alive "$n"; then state="running, not answering"; fi
    printf 'node %s: %s on 127.0.0.1:%s (pid %s)\n' "$n" "$state" "$(client_port "$n")" "$(node_pid "$n" | grep . || echo none)"
    [[ "$state" == "answers" ]] || all=1
  done
  return "$all"
}

command="${1:-}"
case "$command" in
  kill | pause | resume | stop-node | start-node | restart | pid) check_node "${2:-}" ;;
esac
case "$command" in
  start) start ;;
  stop) for n in "${NODES[@]}"; do stop_node "$n"; done ;;
  status) status ;;
  owned) for n in "${NODES[@]}"; do node_alive "$n" || exit 1; done ;;
  kill) signal_node "$2" KILL "killed (SIGKILL)"; rm -f "$(pid_file "$2")" ;;
  pause) signal_node "$2" STOP "paused (SIGSTOP)" ;;
  resume) signal_node "$2" CONT "resumed (SIGCONT)" ;;
  stop-node) stop_node "$2" ;;
  start-node) start_node "$2" ;;
  restart) stop_node "$2"; start_node "$2" ;;
  pid) node_pid "$2" | grep . ;;
  leader) [[ $# -eq 3 ]] || { log "usage: $0 leader TOPIC PARTITION"; exit 2; }; leader "$2" "$3" ;;
  controller) controller ;;
  reset) for n in "${NODES[@]}"; do stop_node "$n"; done; rm -rf "$KAFKA_CLUSTER_DATA" ;;
  *) echo "usage: $0 start|stop|status|owned|kill N|pause N|resume N|stop-node N|start-node N|restart N|pid N|leader TOPIC PARTITION|controller|reset" >&2; exit 2 ;;
esac

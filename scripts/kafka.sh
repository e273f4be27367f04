#!/usr/bin/env bash
# Runs Apache Kafka as a single KRaft node on loopback, without Docker.
#
#   scripts/kafka.sh fetch   # resolve the broker jars with Maven (cached)
#   scripts/kafka.sh start   # fetch, format (first time) and start; waits until it listens
#   scripts/kafka.sh stop    # stop the broker started by `start`
#   scripts/kafka.sh status  # exit 0 when the broker port answers
#   scripts/kafka.sh owned   # exit 0 when the running broker was started by this script
#   scripts/kafka.sh reset   # stop and delete the data folder
#
# Environment: KAFKA_VERSION (default below, the same as docker-compose.yml), KAFKA_HOME (jar cache),
# KAFKA_DATA (log dirs, pid, logs), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093).
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOME="${KAFKA_HOME:-$HOME/.cache/heartbeat/kafka-$KAFKA_VERSION}"
KAFKA_DATA="${KAFKA_DATA:-${TMPDIR:-/tmp}/heartbeat-kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fetch() {
  local want; want="$(sha256sum "$HERE/kafka-pom.xml" | cut -c1-16)"
  # the cache is reused only when it was resolved from this very pom
  if [[ -f "$KAFKA_HOME/libs/kafka_2.13-$KAFKA_VERSION.jar" && "$(cat "$KAFKA_HOME/libs/.pom-sha" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || { log "error: Maven (mvn) is needed to fetch Kafka $KAFKA_VERSION"; exit 1; }
  log "fetching Apache Kafka $KAFKA_VERSION broker and tools jars with Maven into $KAFKA_HOME"
  mkdir -p "$KAFKA_HOME"
  sed "s/@KAFKA_VERSION@/$KAFKA_VERSION/g" "$HERE/kafka-pom.xml" >"$KAFKA_HOME/pom.xml"
  rm -rf "$KAFKA_HOME/libs.tmp"
  mvn -q -B -f "$KAFKA_HOME/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_HOME/libs.tmp" -DincludeScope=runtime
  echo "$want" >"$KAFKA_HOME/libs.tmp/.pom-sha"
  rm -rf "$KAFKA_HOME/libs"
  mv "$KAFKA_HOME/libs.tmp" "$KAFKA_HOME/libs"
}

write_config() {
  mkdir -p "$KAFKA_DATA/logs"
  cat >"$KAFKA_DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
PROPS
  cat >"$KAFKA_DATA/log4j2.properties" <<PROPS
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$KAFKA_DATA/logs/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.server.name=org.apache.kafka.server
logger.server.level=INFO
PROPS
}

java_run() {
  java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_DATA/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

start() {
  if port_open "$KAFKA_PORT"; then log "something already listens on 127.0.0.1:$KAFKA_PORT; not starting"; return 0; fi
  fetch
  write_config
  if [[ ! -f "$KAFKA_DATA/data/meta.properties" ]]; then
    log "formatting KRaft storage in $KAFKA_DATA/data"
    java_run kafka.tools.StorageTool format -t "$(java_run kafka.tools.StorageTool random-uuid)" \
      -c "$KAFKA_DATA/server.properties" >"$KAFKA_DATA/logs/format.log" 2>&1
  fi
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (logs: $KAFKA_DATA/logs)"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_DATA/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_DATA/server.properties" \
    >"$KAFKA_DATA/logs/stdout.log" 2>&1 &
  echo $! >"$KAFKA_DATA/kafka.pid"
  for _ in $(seq 1 120); do
    if port_open "$KAFKA_PORT"; then log "Kafka is up (pid $(cat "$KAFKA_DATA/kafka.pid"))"; return 0; fi
    if ! kill -0 "$(cat "$KAFKA_DATA/kafka.pid")" 2>/dev/null; then
      log "error: Kafka exited during start; last lines of its log:"; tail -n 30 "$KAFKA_DATA/logs/stdout.log" "$KAFKA_DATA/logs/server.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "error: Kafka did not listen on 127.0.0.1:$KAFKA_PORT within 60 s"; exit 1
}

stop() {
  local pidfile="$KAFKA_DATA/kafka.pid"
  [[ -f "$pidfile" ]] || { log "no pid file in $KAFKA_DATA; nothing to stop"; return 0; }
  local pid; pid="$(cat "$pidfile")"
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"; log "stopped"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) port_open "$KAFKA_PORT" ;;
  owned) [[ -f "$KAFKA_DATA/kafka.pid" ]] && kill -0 "$(cat "$KAFKA_DATA/kafka.pid")" 2>/dev/null ;;
  reset) stop; rm -rf "$KAFKA_DATA" ;;
  *) echo "usage: $0 fetch|start|stop|status|owned|reset" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Runs Apache Kafka as a single KRaft node on loopback, without Docker.
#
#   scripts/kafka.sh fetch   # resolve the broker jars with Maven (cached)
#   scripts/kafka.sh start   # fetch, format (first time) and start; waits until it listens
#   scripts/kafka.sh stop    # stop the broker started by `start`
#   scripts/kafka.sh status  # exit 0 when the broker port answers
#   scripts/kafka.sh owned   # exit 0 when the running broker was started by this script
#   scripts/kafka.sh cached  # exit 0 when the jars are cached (start then needs no Maven)
#   scripts/kafka.sh reset   # stop and delete the data folder
#
# Environment: KAFKA_VERSION (default below, the same as docker-compose.yml), KAFKA_HOME (jar cache),
# KAFKA_DATA (log dirs, pid, logs), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_HEAP_OPTS (-Xms256m -Xmx768m), KAFKA_CLUSTER_ID (used at format time; default: a random one),
# KAFKA_START_TIMEOUT (seconds `start` waits for the ports, 60).
#
# Secured mode, for a second, throw-away broker beside the main one (tests/support/secure_services.ts):
# KAFKA_SECURITY_DIR names a folder holding
#   keystore.p12     PKCS12 keystore: the broker's key and certificate chain
#   truststore.p12   PKCS12 truststore: the CA that signs the clients' certificates
#   store-password   one line: the password of both stores and of the key
#   scram-users      lines `name=password`: SCRAM-SHA-512 and -256 credentials, added when the storage is
#                    formatted, and PLAIN's users
# and the broker gets, besides PLAINTEXT (still the inter-broker listener) and CONTROLLER,
#   SSL://127.0.0.1:$KAFKA_SSL_PORT (9094)            TLS with client certificates required (mutual TLS)
#   SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT (9095)  TLS without client certificates, SASL SCRAM-SHA-512,
#                    SCRAM-SHA-256, PLAIN and OAUTHBEARER (unsecured tokens: a test broker only)
# Give it its own KAFKA_DATA, KAFKA_PORT and KAFKA_CONTROLLER_PORT. Unset, nothing of this applies.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOME="${KAFKA_HOME:-$HOME/.cache/heartbeat/kafka-$KAFKA_VERSION}"
KAFKA_DATA="${KAFKA_DATA:-${TMPDIR:-/tmp}/heartbeat-kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
KAFKA_CLUSTER_ID="${KAFKA_CLUSTER_ID:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_SECURITY_DIR="${KAFKA_SECURITY_DIR:-}"
KAFKA_SSL_PORT="${KAFKA_SSL_PORT:-9094}"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-9095}"
read -r -a HEAP <<<"$KAFKA_HEAP_OPTS"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Maven's transfer lines, as a progress report: files and megabytes so far (a live line on a terminal,
# a line per 10 MB otherwise), then the total; the repository addresses are not repeated.
download_progress() {
  local tty=0; [[ -t 2 ]] && tty=1
  awk -v tty="$tty" '
    function show(final) {
      line = sprintf("kafka.sh: downloaded %d files, %.1f MB", files, bytes / 1e6)
      if (tty && !final) { printf "\r\033[2K%s", line > "/dev/stderr"; fflush("/dev/stderr") }
      else if (final || bytes - shown >= 10e6) { if (tty) printf "\r\033[2K" > "/dev/stderr"; print line > "/dev/stderr"; shown = bytes }
    }
    /Downloaded from [^:]*: .* \([0-9.]+ (B|kB|MB) at / {
      match($0, /\([0-9.]+ (B|kB|MB) at /); split(substr($0, RSTART + 1, RLENGTH - 1), f, " ")
      bytes += f[1] * (f[2] == "MB" ? 1e6 : f[2] == "kB" ? 1e3 : 1); files++; show(0); next
    }
    /^\[(ERROR|WARNING)\]/ { print > "/dev/stderr" }
    END { if (files > 0) show(1) }'
}

# The cache is reused only when it was resolved from this very pom.
cached() {
  local want; want="$(sha256sum "$HERE/kafka-pom.xml" | cut -c1-16)"
  [[ -f "$KAFKA_HOME/libs/kafka_2.13-$KAFKA_VERSION.jar" && "$(cat "$KAFKA_HOME/libs/.pom-sha" 2>/dev/null)" == "$want" ]]
}

fetch() {
  cached && return 0
  local want; want="$(sha256sum "$HERE/kafka-pom.xml" | cut -c1-16)"
  command -v mvn >/dev/null || { log "error: Maven (mvn) is needed to fetch Kafka $KAFKA_VERSION (apt-get install maven)"; exit 1; }
  local size="size not known for this version"
  [[ "$KAFKA_VERSION" != "4.4.0" ]] || size="about 55 MB of jars, 65 MB with Maven's own plugins on its first run"
  log "fetching Apache Kafka $KAFKA_VERSION broker and tools jars with Maven into $KAFKA_HOME ($size; first run only)"
  local began=$SECONDS
  mkdir -p "$KAFKA_HOME"
  sed "s/@KAFKA_VERSION@/$KAFKA_VERSION/g" "$HERE/kafka-pom.xml" >"$KAFKA_HOME/pom.xml"
  rm -rf "$KAFKA_HOME/libs.tmp"
  if ! mvn -B -f "$KAFKA_HOME/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_HOME/libs.tmp" -DincludeScope=runtime 2>&1 | download_progress ||
    [[ ! -f "$KAFKA_HOME/libs.tmp/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    log "error: Maven could not resolve Kafka $KAFKA_VERSION (its messages are above)"; exit 1
  fi
  echo "$want" >"$KAFKA_HOME/libs.tmp/.pom-sha"
  rm -rf "$KAFKA_HOME/libs"
  mv "$KAFKA_HOME/libs.tmp" "$KAFKA_HOME/libs"
  log "Kafka's jars are ready: $(du -sm "$KAFKA_HOME/libs" | cut -f1) MB in $(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars, in $((SECONDS - began)) s"
}

# The secured mode's files, checked before anything is written or started.
check_security() {
  [[ -n "$KAFKA_SECURITY_DIR" ]] || return 0
  local f
  for f in keystore.p12 truststore.p12 store-password scram-users; do
    [[ -r "$KAFKA_SECURITY_DIR/$f" ]] || { log "error: KAFKA_SECURITY_DIR=$KAFKA_SECURITY_DIR has no readable $f"; exit 1; }
  done
  local line
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -z "$line" ]] && continue
    # kept to characters StorageTool's [name=...,password=...] syntax takes as they are
    [[ "$line" =~ ^[A-Za-z0-9._@-]+=[A-Za-z0-9._~@+/-]+$ ]] || {
      log "error: $KAFKA_SECURITY_DIR/scram-users: lines must be name=password (letters, digits, . _ ~ @ + / -)"; exit 1; }
  done <"$KAFKA_SECURITY_DIR/scram-users"
}

# The ports the broker listens on for clients (the PLAINTEXT one first).
client_ports() {
  echo "$KAFKA_PORT"
  [[ -z "$KAFKA_SECURITY_DIR" ]] || echo "$KAFKA_SSL_PORT" "$KAFKA_SASL_SSL_PORT"
}

write_config() {
  mkdir -p "$KAFKA_DATA/logs"
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT"
  local advertised="PLAINTEXT://127.0.0.1:$KAFKA_PORT"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ -n "$KAFKA_SECURITY_DIR" ]]; then
    listeners+=",SSL://127.0.0.1:$KAFKA_SSL_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT"
    advertised+=",SSL://127.0.0.1:$KAFKA_SSL_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT"
    protocols+=",SSL:SSL,SASL_SSL:SASL_SSL"
  fi
  cat >"$KAFKA_DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
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
  if [[ -n "$KAFKA_SECURITY_DIR" ]]; then
    local password; password="$(head -n 1 "$KAFKA_SECURITY_DIR/store-password")"
    chmod 600 "$KAFKA_DATA/server.properties" # it holds the store password
    cat >>"$KAFKA_DATA/server.properties" <<PROPS
# secured mode (KAFKA_SECURITY_DIR): mutual TLS on SSL; SCRAM-SHA-512, SCRAM-SHA-256, PLAIN and
# OAUTHBEARER over TLS on SASL_SSL (OAUTHBEARER with Kafka's unsecured token validator: for tests only)
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_SECURITY_DIR/keystore.p12
ssl.keystore.password=$password
ssl.key.password=$password
ssl.truststore.type=PKCS12
ssl.truststore.location=$KAFKA_SECURITY_DIR/truststore.p12
ssl.truststore.password=$password
listener.name.ssl.ssl.client.auth=required
listener.name.sasl_ssl.ssl.client.auth=none
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
PROPS
    # PLAIN's users are listed in its JAAS line: the same name=password lines as SCRAM's
    local plain="" user
    while IFS= read -r user || [[ -n "$user" ]]; do
      [[ -n "$user" ]] && plain+=" user_${user%%=*}=\"${user#*=}\""
    done <"$KAFKA_SECURITY_DIR/scram-users"
    echo "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required${plain};" \
      >>"$KAFKA_DATA/server.properties"
  fi
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

# On a failed start: the log's first error (the cause, before the shutdown noise), then its last lines.
show_failure() {
  local first
  first="$(grep -m 1 -A 2 -E '^\[[^]]*\] (ERROR|FATAL) ' "$KAFKA_DATA/logs/server.log" 2>/dev/null || true)"
  [[ -z "$first" ]] || printf 'first error in %s:\n%s\n' "$KAFKA_DATA/logs/server.log" "$first" >&2
  tail -n 30 "$KAFKA_DATA/logs/stdout.log" "$KAFKA_DATA/logs/server.log" >&2 || true
}

java_run() {
  java "${HEAP[@]}" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_DATA/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

start() {
  if port_open "$KAFKA_PORT"; then log "something already listens on 127.0.0.1:$KAFKA_PORT; not starting"; return 0; fi
  local began=$SECONDS
  check_security
  fetch
  write_config
  if [[ ! -f "$KAFKA_DATA/data/meta.properties" ]]; then
    log "formatting KRaft storage in $KAFKA_DATA/data"
    local scram=() user
    if [[ -n "$KAFKA_SECURITY_DIR" ]]; then
      while IFS= read -r user || [[ -n "$user" ]]; do
        [[ -n "$user" ]] && scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%=*},password=${user#*=}]" \
          --add-scram "SCRAM-SHA-256=[name=${user%%=*},password=${user#*=}]")
      done <"$KAFKA_SECURITY_DIR/scram-users"
    fi
    local cluster_id="$KAFKA_CLUSTER_ID"
    [[ -n "$cluster_id" ]] || cluster_id="$(java_run kafka.tools.StorageTool random-uuid)"
    if ! java_run kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$KAFKA_DATA/server.properties" "${scram[@]}" >"$KAFKA_DATA/logs/format.log" 2>&1; then
      log "error: formatting failed; last lines of $KAFKA_DATA/logs/format.log:"; tail -n 30 "$KAFKA_DATA/logs/format.log" >&2
      exit 1
    fi
  elif [[ -n "$KAFKA_SECURITY_DIR" ]]; then
    log "storage already formatted: the SCRAM credentials are the ones it was formatted with"
  fi
  local ports; ports="$(client_ports | tr '\n' ' ')"
  if [[ -z "$KAFKA_SECURITY_DIR" ]]; then
    log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (logs: $KAFKA_DATA/logs)"
  else
    log "starting Kafka $KAFKA_VERSION secured: PLAINTEXT 127.0.0.1:$KAFKA_PORT, SSL (mutual TLS) :$KAFKA_SSL_PORT, SASL_SSL (SCRAM-SHA-512/256, PLAIN, OAUTHBEARER) :$KAFKA_SASL_SSL_PORT (logs: $KAFKA_DATA/logs)"
  fi
  # a session of its own (where setsid exists): a Ctrl-C meant for whoever started it does not reach
  # the broker, which `stop` stops after the programs that use it are done
  local session=(); command -v setsid >/dev/null && session=(setsid)
  nohup "${session[@]}" java "${HEAP[@]}" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_DATA/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_DATA/server.properties" \
    >"$KAFKA_DATA/logs/stdout.log" 2>&1 &
  echo $! >"$KAFKA_DATA/kafka.pid"
  for _ in $(seq 1 $((KAFKA_START_TIMEOUT * 2))); do
    local up=1 port
    for port in $ports; do port_open "$port" || { up=0; break; }; done
    if ((up)); then log "Kafka is up (pid $(cat "$KAFKA_DATA/kafka.pid")) in $((SECONDS - began)) s"; return 0; fi
    if ! kill -0 "$(cat "$KAFKA_DATA/kafka.pid")" 2>/dev/null; then
      log "error: Kafka exited during start; last lines of its log:"; show_failure
      exit 1
    fi
    sleep 0.5
  done
  local where="127.0.0.1:$KAFKA_PORT"
  [[ -z "$KAFKA_SECURITY_DIR" ]] || where="127.0.0.1 ports ${ports% }"
  log "error: Kafka did not listen on $where within $KAFKA_START_TIMEOUT s; last lines of its log:"
  show_failure
  exit 1
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
  cached) cached ;;
  owned) [[ -f "$KAFKA_DATA/kafka.pid" ]] && kill -0 "$(cat "$KAFKA_DATA/kafka.pid")" 2>/dev/null ;;
  reset) stop; rm -rf "$KAFKA_DATA" ;;
  *) echo "usage: $0 fetch|start|stop|status|owned|cached|reset" >&2; exit 2 ;;
esac

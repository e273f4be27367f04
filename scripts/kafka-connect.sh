#!/usr/bin/env bash
# Fetches a Kafka Connect standalone worker (the broker's Kafka version) and the Debezium JDBC sink
# connector with Maven into a cache beside the broker's jars: the peer the bench compares the sink with
# (`deno task bench`, phase peer; docs/performance.md).
#
#   scripts/kafka-connect.sh fetch    # resolve the jars with Maven (cached; a no-op when they are)
#   scripts/kafka-connect.sh cached   # exit 0 when the jars are cached (then nothing needs Maven)
#   scripts/kafka-connect.sh home     # print the cache folder: libs/ (the worker), plugins/ (plugin.path)
#
# Environment: KAFKA_VERSION (default: scripts/kafka.sh's), DEBEZIUM_VERSION (default below),
# KAFKA_CONNECT_HOME (the cache, default $HOME/.cache/heartbeat/kafka-connect-$KAFKA_VERSION).
# Exit codes: 0 done, 1 Maven failed, 3 Maven (mvn) is not installed.
#
# Maven runs with maven-central-only.xml as its settings: Debezium's parent pom names a repository
# that cannot be reached from here, and only Maven's default repository is needed. The plugin folder
# gets no Kafka, SLF4J or Jackson jars (debezium-jdbc-pom.xml excludes them): the worker has its own.
# Debezium 3.5.0.Final is the newest whose dependencies all resolve from the default repository.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BROKER_VERSION="$(sed -n 's/^KAFKA_VERSION="\${KAFKA_VERSION:-\(.*\)}"$/\1/p' "$HERE/kafka.sh")"
KAFKA_VERSION="${KAFKA_VERSION:-$BROKER_VERSION}"
DEBEZIUM_VERSION="${DEBEZIUM_VERSION:-3.5.0.Final}"
KAFKA_CONNECT_HOME="${KAFKA_CONNECT_HOME:-$HOME/.cache/heartbeat/kafka-connect-$KAFKA_VERSION}"
PLUGIN="$KAFKA_CONNECT_HOME/plugins/debezium-connector-jdbc"

log() { printf 'kafka-connect.sh: %s\n' "$*" >&2; }

# Maven's transfer lines, as a progress report: files and megabytes so far (a live line on a terminal,
# a line per 10 MB otherwise), then the total; the repository addresses are not repeated.
download_progress() {
  local tty=0; [[ -t 2 ]] && tty=1
  awk -v tty="$tty" -v what="$1" '
    function show(final) {
      line = sprintf("kafka-connect.sh: %s: downloaded %d files, %.1f MB", what, files, bytes / 1e6)
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

# What the cache was resolved from: both poms, the settings and the versions.
fingerprint() {
  { cat "$HERE/kafka-connect-pom.xml" "$HERE/debezium-jdbc-pom.xml" "$HERE/maven-central-only.xml"
    echo "$KAFKA_VERSION $DEBEZIUM_VERSION"; } | sha256sum | cut -c1-16
}

cached() {
  [[ -f "$KAFKA_CONNECT_HOME/libs/connect-runtime-$KAFKA_VERSION.jar" &&
    -f "$PLUGIN/debezium-connector-jdbc-$DEBEZIUM_VERSION.jar" &&
    "$(cat "$KAFKA_CONNECT_HOME/.pom-sha" 2>/dev/null)" == "$(fingerprint)" ]]
}

# resolve <pom template> <output folder> <what>
resolve() {
  local pom="$KAFKA_CONNECT_HOME/$(basename "$1")"
  sed -e "s/@KAFKA_VERSION@/$KAFKA_VERSION/g" -e "s/@DEBEZIUM_VERSION@/$DEBEZIUM_VERSION/g" "$1" >"$pom"
  rm -rf "$2"
  mvn -B -s "$HERE/maven-central-only.xml" -f "$pom" dependency:copy-dependencies \
    -DoutputDirectory="$2" -DincludeScope=runtime 2>&1 | download_progress "$3"
}

fetch() {
  cached && return 0
  command -v mvn >/dev/null || {
    log "error: Maven (mvn) is needed to fetch Kafka Connect $KAFKA_VERSION and the Debezium JDBC sink (apt-get install maven)"
    exit 3
  }
  log "fetching Kafka Connect $KAFKA_VERSION and the Debezium JDBC sink $DEBEZIUM_VERSION with Maven into $KAFKA_CONNECT_HOME (35 MB of worker jars, most of them in Maven's own cache already when the broker's are, and 38 MB for the connector; first run only)"
  local began=$SECONDS
  mkdir -p "$KAFKA_CONNECT_HOME"
  rm -f "$KAFKA_CONNECT_HOME/.pom-sha"
  if ! resolve "$HERE/kafka-connect-pom.xml" "$KAFKA_CONNECT_HOME/libs.tmp" "worker" ||
    [[ ! -f "$KAFKA_CONNECT_HOME/libs.tmp/connect-runtime-$KAFKA_VERSION.jar" ]]; then
    log "error: Maven could not resolve Kafka Connect $KAFKA_VERSION (its messages are above)"; exit 1
  fi
  if ! resolve "$HERE/debezium-jdbc-pom.xml" "$PLUGIN.tmp" "connector" ||
    [[ ! -f "$PLUGIN.tmp/debezium-connector-jdbc-$DEBEZIUM_VERSION.jar" ]]; then
    log "error: Maven could not resolve the Debezium JDBC sink $DEBEZIUM_VERSION (its messages are above)"; exit 1
  fi
  rm -rf "$KAFKA_CONNECT_HOME/libs" "$PLUGIN"
  mv "$KAFKA_CONNECT_HOME/libs.tmp" "$KAFKA_CONNECT_HOME/libs"
  mv "$PLUGIN.tmp" "$PLUGIN"
  fingerprint >"$KAFKA_CONNECT_HOME/.pom-sha"
  log "ready in $((SECONDS - began)) s: worker $(du -sm "$KAFKA_CONNECT_HOME/libs" | cut -f1) MB in $(find "$KAFKA_CONNECT_HOME/libs" -name '*.jar' | wc -l) jars, connector $(du -sm "$PLUGIN" | cut -f1) MB in $(find "$PLUGIN" -name '*.jar' | wc -l) jars"
}

case "${1:-}" in
  fetch) fetch ;;
  cached) cached ;;
  home) echo "$KAFKA_CONNECT_HOME" ;;
  *) echo "usage: $0 fetch|cached|home" >&2; exit 2 ;;
esac

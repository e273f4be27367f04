#!/usr/bin/env bash
# A throw-away PostgreSQL for tests and local runs, when no server answers on 127.0.0.1:5432:
# initdb into a cache folder (trust auth on loopback, the `postgres` role, as the tests expect).
#
#   scripts/postgres.sh start    # initdb (first time) and start; waits until it answers; reports the time
#   scripts/postgres.sh stop     # stop the cluster started by `start` (its data stays for next time)
#   scripts/postgres.sh status   # exit 0 when something answers on the port
#   scripts/postgres.sh owned    # exit 0 when the running cluster was started by this script
#   scripts/postgres.sh reset    # stop and delete the data folder
#
# Environment: PG_DATA (default ${TMPDIR:-/tmp}/heartbeat-postgres), PG_PORT (5432), PG_BIN (the newest
# /usr/lib/postgresql/*/bin). As root the cluster runs as the postgres OS user (PostgreSQL refuses root).
set -euo pipefail

PG_DATA="${PG_DATA:-${TMPDIR:-/tmp}/heartbeat-postgres}"
PG_PORT="${PG_PORT:-5432}"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ $EUID -eq 0 ]]; then as_pg() { runuser -u postgres -- "$@"; }; else as_pg() { "$@"; }; fi

start() {
  if port_open "$PG_PORT"; then log "something already answers on 127.0.0.1:$PG_PORT; not starting"; return 0; fi
  [[ -x "$PG_BIN/initdb" ]] || { log "error: PostgreSQL's initdb not found (install postgresql, or set PG_BIN)"; exit 1; }
  local began=$SECONDS
  if [[ ! -f "$PG_DATA/data/PG_VERSION" ]]; then
    mkdir -p "$PG_DATA"
    [[ $EUID -ne 0 ]] || chown postgres "$PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA/data" -U postgres --auth=trust -E UTF8 >"$PG_DATA/initdb.log" 2>&1 ||
      { log "error: initdb failed:"; tail -n 20 "$PG_DATA/initdb.log" >&2; exit 1; }
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA/data" -l "$PG_DATA/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA" start >/dev/null; then
    log "error: PostgreSQL did not start; last lines of its log:"; tail -n 20 "$PG_DATA/server.log" >&2; exit 1
  fi
  touch "$PG_DATA/owned"
  log "PostgreSQL is up on 127.0.0.1:$PG_PORT (data $PG_DATA/data) in $((SECONDS - began)) s"
}

stop() {
  [[ -f "$PG_DATA/owned" ]] || { log "no cluster of this script is running; nothing to stop"; return 0; }
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  rm -f "$PG_DATA/owned"; log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) port_open "$PG_PORT" ;;
  owned) [[ -f "$PG_DATA/owned" ]] && port_open "$PG_PORT" ;;
  reset) stop; rm -rf "$PG_DATA" ;;
  *) echo "usage: $0 start|stop|status|owned|reset" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The shell half of tests/support/secure_services.ts: everything that writes files (the tests run
# without --allow-write) or runs as the postgres OS user: as root through runuser; as any other user
# (a CI runner) the clusters run as that user.
#
#   secure_services.sh reap                 stop and delete what crashed runs left behind
#   secure_services.sh free PORT...         exit 1, naming it, when something listens on a port
#   secure_services.sh mkdir                make the throw-away folder; prints its path
#   secure_services.sh certs DIR            CAs, certificates, keys (PEM) in DIR/tls
#   secure_services.sh kafka-stores DIR     the broker's PKCS12 keystore/truststore, SCRAM users in DIR/kafka-security
#   secure_services.sh kafka-stop DIR       stop the broker scripts/kafka.sh started with KAFKA_DATA=DIR/kafka
#   secure_services.sh postgres-start DIR   two clusters (DIR/pg/main, DIR/pg/other-name), schema in main
#   secure_services.sh postgres-stop DIR    stop both clusters
#   secure_services.sh remove DIR           delete DIR (only a folder this script made)
#
# Environment (from the TypeScript side): OWNER_PID (the Deno test process, for `mkdir` and `reap`),
# STORE_PASSWORD, KEY_PASSPHRASE, SCRAM_USER, SCRAM_PASSWORD, POSTGRES_PASSWORD, WRITER_PASSWORD,
# PG_PORT (5433), PG_OTHER_PORT (5434), PG_BIN (/usr/lib/postgresql/15/bin), PG_PLAINTEXT_HOST (1: the
# cluster on PG_PORT also takes the same scram-sha-256 login without TLS; for bench/bench.ts's plaintext reference).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PREFIX="${TMPDIR:-/tmp}/heartbeat-secure."
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

# PostgreSQL refuses to run as root: as root, its commands run as the postgres OS user
if [[ $EUID -eq 0 ]]; then
  as_pg() { runuser -u postgres -- "$@"; }
  PG_OWNER=(-o postgres -g postgres)
else
  as_pg() { "$@"; }
  PG_OWNER=()
fi
PG_PORT="${PG_PORT:-5433}"
PG_OTHER_PORT="${PG_OTHER_PORT:-5434}"

log() { printf 'secure_services.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ours() { [[ "$1" == "$PREFIX"* && -f "$1/owner.pid" ]] || die "$1 is not a folder made by secure_services.sh mkdir"; }

# the folder's last lines of a log, for error messages
tail_of() { [[ -f "$1" ]] && { printf -- '--- last lines of %s:\n' "$1"; tail -n "${2:-25}" "$1"; } >&2 || true; }

cmd_mkdir() {
  [[ -n "${OWNER_PID:-}" ]] || die "OWNER_PID is not set"
  local dir; dir="$(mktemp -d "${PREFIX}XXXXXXXX")"
  chmod 711 "$dir" # the postgres user passes through to dir/pg, and reads nothing else
  echo "$OWNER_PID" >"$dir/owner.pid"
  echo "$dir"
}

# openssl, quiet unless it fails
ossl() {
  local out
  if ! out="$(openssl "$@" 2>&1)"; then die "openssl $1 failed: $out"; fi
}

# sign NAME with CA: SUBJECT, extensions (one per line)
sign() {
  local tls="$1" ca="$2" name="$3" subject="$4" ext="$5"
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/$name.key"
  ossl req -new -key "$tls/$name.key" -subj "$subject" -out "$tls/$name.csr"
  printf '%s\n' "$ext" >"$tls/$name.ext"
  ossl x509 -req -in "$tls/$name.csr" -CA "$tls/$ca.pem" -CAkey "$tls/$ca.key" -CAcreateserial \
    -days 2 -sha256 -extfile "$tls/$name.ext" -out "$tls/$name.pem"
  rm -f "$tls/$name.csr" "$tls/$name.ext"
}

make_ca() {
  local tls="$1" name="$2" cn="$3"
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/$name.key"
  ossl req -x509 -new -key "$tls/$name.key" -subj "/CN=$cn" -days 2 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$tls/$name.pem"
}

cmd_certs() {
  local dir="$1"; ours "$dir"
  [[ -n "${KEY_PASSPHRASE:-}" ]] || die "KEY_PASSPHRASE is not set"
  local tls="$dir/tls"; mkdir -p "$tls"
  local server="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth"
  make_ca "$tls" ca "heartbeat test CA"
  make_ca "$tls" other-ca "an unrelated test CA"
  sign "$tls" ca server "/CN=localhost" "$server
subjectAltName=DNS:localhost,IP:127.0.0.1"
  sign "$tls" ca other-name "/CN=other.example" "$server
subjectAltName=DNS:other.example"
  sign "$tls" ca client "/CN=heartbeat-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  # the same client key, encrypted (PKCS#8, AES-256) with a passphrase
  ossl pkcs8 -topk8 -in "$tls/client.key" -v2 aes-256-cbc -passout env:KEY_PASSPHRASE -out "$tls/client.encrypted.key"
  chmod 644 "$tls"/*.pem
}

cmd_kafka_stores() {
  local dir="$1"; ours "$dir"
  [[ -n "${STORE_PASSWORD:-}" && -n "${SCRAM_USER:-}" && -n "${SCRAM_PASSWORD:-}" ]] ||
    die "STORE_PASSWORD, SCRAM_USER and SCRAM_PASSWORD must be set"
  local tls="$dir/tls" sec="$dir/kafka-security"
  mkdir -p "$sec"
  ossl pkcs12 -export -name broker -in "$tls/server.pem" -inkey "$tls/server.key" -certfile "$tls/ca.pem" \
    -passout env:STORE_PASSWORD -out "$sec/keystore.p12"
  local out
  out="$(keytool -importcert -noprompt -alias heartbeat-test-ca -file "$tls/ca.pem" -storetype PKCS12 \
    -keystore "$sec/truststore.p12" -storepass:env STORE_PASSWORD 2>&1)" || die "keytool -importcert failed: $out"
  printf '%s\n' "$STORE_PASSWORD" >"$sec/store-password"
  printf '%s=%s\n' "$SCRAM_USER" "$SCRAM_PASSWORD" >"$sec/scram-users"
}

pg_cluster_start() {
  local pg="$1" name="$2" port="$3" cert="$4"
  if ! as_pg "$PG_BIN/pg_ctl" -D "$pg/$name" -l "$pg/$name.log" -w -t 30 -o "-p $port \
      -c listen_addresses=127.0.0.1 -k $pg/sock -c ssl=on -c ssl_cert_file=$pg/$cert.pem -c ssl_key_file=$pg/$cert.key \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB" start >"$pg/$name.pg_ctl.log" 2>&1; then
    log "error: PostgreSQL ($name) did not start on 127.0.0.1:$port"
    tail_of "$pg/$name.pg_ctl.log"; tail_of "$pg/$name.log"
    exit 1
  fi
}

cmd_postgres_start() {
  local dir="$1"; ours "$dir"
  [[ -n "${POSTGRES_PASSWORD:-}" && -n "${WRITER_PASSWORD:-}" ]] || die "POSTGRES_PASSWORD and WRITER_PASSWORD must be set"
  [[ -x "$PG_BIN/initdb" ]] || die "no PostgreSQL binaries in $PG_BIN"
  local pg="$dir/pg"
  install -d "${PG_OWNER[@]}" -m 700 "$pg" "$pg/sock"
  local f
  for f in server.pem server.key other-name.pem other-name.key; do
    install "${PG_OWNER[@]}" -m 600 "$dir/tls/$f" "$pg/$f"
  done
  (umask 077 && printf '%s\n' "$POSTGRES_PASSWORD" >"$pg/pwfile") && { [[ $EUID -ne 0 ]] || chown postgres "$pg/pwfile"; }
  if ! as_pg "$PG_BIN/initdb" -D "$pg/main" -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
      --auth-local=peer --auth-host=scram-sha-256 --pwfile="$pg/pwfile" >"$pg/initdb.log" 2>&1; then
    log "error: initdb failed"; tail_of "$pg/initdb.log"; exit 1
  fi
  rm -f "$pg/pwfile"
  # TLS + SCRAM only over TCP (no plain `host` line: a connection without TLS is refused); the
  # socket, for this script's setup, only for the postgres OS user
  cat >"$pg/main/pg_hba.conf" <<'HBA'
# throw-away cluster of tests/support/secure_services.ts
local    all  postgres                peer
hostssl  all  all       127.0.0.1/32  scram-sha-256
HBA
  # the same cluster again, serving the certificate for other.example (the verify-full case)
  cp -a "$pg/main" "$pg/other-name"
  # opt-in, the main cluster only: the same login without TLS (the bench's like-for-like plaintext reference)
  if [[ "${PG_PLAINTEXT_HOST:-0}" == 1 ]]; then
    printf 'host     all  all       127.0.0.1/32  scram-sha-256\n' >>"$pg/main/pg_hba.conf"
  fi
  pg_cluster_start "$pg" main "$PG_PORT" server
  pg_cluster_start "$pg" other-name "$PG_OTHER_PORT" other-name
  local psql=(as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$pg/sock" -p "$PG_PORT" -U postgres)
  {
    "${psql[@]}" -d postgres -c "CREATE DATABASE heartbeat" &&
      "${psql[@]}" -d heartbeat -f - <"$ROOT/sql/initdb.sql" &&
      "${psql[@]}" -d heartbeat -f - <"$ROOT/sql/roles.sql" &&
      "${psql[@]}" -d heartbeat -v "pw=$WRITER_PASSWORD" -f - <<<"ALTER ROLE heartbeat_writer PASSWORD :'pw';"
  } >"$pg/setup.log" 2>&1 || { log "error: creating the heartbeat database failed"; tail_of "$pg/setup.log"; exit 1; }
}

pg_cluster_stop() {
  local data="$1"
  [[ -f "$data/postmaster.pid" ]] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 15 stop >/dev/null 2>&1 ||
    as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w -t 15 stop >/dev/null 2>&1 ||
    log "warning: could not stop PostgreSQL in $data"
}

cmd_postgres_stop() {
  local dir="$1"; ours "$dir"
  pg_cluster_stop "$dir/pg/main" & pg_cluster_stop "$dir/pg/other-name" & wait
}

cmd_kafka_stop() {
  local dir="$1"; ours "$dir"
  [[ -f "$dir/kafka/kafka.pid" ]] || return 0
  KAFKA_DATA="$dir/kafka" "$ROOT/scripts/kafka.sh" stop 2>/dev/null
}

cmd_remove() {
  local dir="$1"
  [[ -e "$dir" ]] || return 0
  ours "$dir"
  rm -rf "$dir"
}

# Folders of runs whose Deno process is gone (killed, or timed out before its dispose ran).
cmd_reap() {
  local dir pid
  for dir in "$PREFIX"*; do
    [[ -f "$dir/owner.pid" ]] || continue
    pid="$(cat "$dir/owner.pid")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then continue; fi
    log "cleaning up $dir, left behind by process $pid"
    cmd_kafka_stop "$dir" || true
    cmd_postgres_stop "$dir" || true
    rm -rf "$dir"
  done
}

cmd_free() {
  local port
  for port in "$@"; do
    if port_open "$port"; then die "127.0.0.1:$port is already in use; secure_services needs it free"; fi
  done
}

case "${1:-}" in
  reap) cmd_reap ;;
  free) shift; cmd_free "$@" ;;
  mkdir) cmd_mkdir ;;
  certs) cmd_certs "$2" ;;
  kafka-stores) cmd_kafka_stores "$2" ;;
  kafka-stop) cmd_kafka_stop "$2" ;;
  postgres-start) cmd_postgres_start "$2" ;;
  postgres-stop) cmd_postgres_stop "$2" ;;
  remove) cmd_remove "$2" ;;
  *) echo "usage: $0 reap|free PORT...|mkdir|certs DIR|kafka-stores DIR|kafka-stop DIR|postgres-start DIR|postgres-stop DIR|remove DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The local svx stack: one PostgreSQL cluster and the five services, all on 127.0.0.1, state under .svx/stack.
#   stack.sh up      create/start what is not running, wait until every service answers Health
#   stack.sh down    stop exactly what `up` started, by the pids it recorded
#   stack.sh status  one line per part
# Configuration (environment): SVX_STACK_DIR (.svx/stack), SVX_PG_PORT (55432), SVX_BIN_DIR (release build dir),
# SVX_PROBE (svx-probe binary), and the service variables of the README, which are passed through (with every
# SVX_<SERVICE>_ENDPOINT and SVX_PG_PORT set to other ports, a second stack runs beside the first).
#
# The cluster lives in $stack/pgdata when its OS user can reach it there. As root it runs as `postgres`, and a
# checkout in a folder that user cannot enter (anywhere under /root, mode 0700) gets its cluster in a directory
# under the system temp folder instead (mktemp, 0700, owned by postgres), whose path $stack/postgres.home
# records; `down` stops that cluster and deletes the directory, data included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/pg.sh"

stack=$(realpath -m "${SVX_STACK_DIR:-$root/.svx/stack}")
pg_port=${SVX_PG_PORT:-55432}
bin=${SVX_BIN_DIR:-$(cd "$root" && swift build -c release --show-bin-path 2>/dev/null)}
probe=${SVX_PROBE:-$root/.build/svx-probe/svx-probe}
home_record=$stack/postgres.home
services=(auth keystore vault sharing classification)
declare -A port=([auth]=7101 [keystore]=7102 [vault]=7103 [sharing]=7104 [classification]=7105)

keys=$stack/keys
# CURVE unless SVX_TRANSPORT=plaintext; `status` and `down` use what `up` recorded.
transport=${SVX_TRANSPORT:-$(cat "$stack/transport" 2>/dev/null || echo curve)}

endpoint_of() { local var="SVX_${1^^}_ENDPOINT"; echo "${!var:-tcp://127.0.0.1:${port[$1]}}"; }
# The C probe on service $1 (its public key pinned over CURVE); the other arguments are the probe's.
probe_service() {
  local s=$1; shift
  if [ "$transport" = plaintext ]; then "$probe" "$@"; else "$probe" --server-key-file "$keys/$s.pub" "$@"; fi
}
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

locate_cluster() {  # sets home (empty: the cluster is in the stack directory), data and pg_log
  home=""; [ -f "$home_record" ] && home=$(cat "$home_record")
  if [ -n "$home" ]; then data=$home/data; pg_log=$home/postgres.log
  else data=$stack/pgdata; pg_log=$stack/postgres.log; fi
}

place_cluster() {  # for `up`: keeps an existing cluster, else chooses where a new one goes
  locate_cluster
  if [ -n "$home" ] && [ -d "$home" ]; then return 0; fi
  if [ -z "$home" ] && [ -f "$data/PG_VERSION" ]; then return 0; fi
  if [ -z "$home" ] && { [ "$(id -u)" -ne 0 ] || pg_as_owner test -x "$(dirname "$stack")"; }; then return 0; fi
  # The cluster's OS user cannot reach the stack directory (or the temp folder lost a recorded cluster).
  [ -z "$home" ] && rmdir "$stack/pgdata" 2>/dev/null || true  # an empty one an earlier, failed initdb left
  home=$(pg_new_home stack-pg)
  echo "$home" > "$home_record"
  data=$home/data; pg_log=$home/postgres.log
}

secrets() {  # one random password per service role, generated once, readable by the owner only
  local file=$stack/secrets.env
  if [ ! -f "$file" ]; then
    (umask 077; for s in "${services[@]}"; do
      echo "SVX_PG_PASSWORD_${s^^}=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' )"; done > "$file")
  fi
  if ! grep -q '^SVX_AUTH_CHALLENGE_KEY=' "$file"; then  # Auth's challenge key (README, Configuration)
    (umask 077; echo "SVX_AUTH_CHALLENGE_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >> "$file")
  fi
  source "$file"
}

curve_keys() {  # each service's long-term CURVE keypair, made once: keys/<service>.key (0600) and .pub
  [ "$transport" = plaintext ] && return 0
  local s
  (umask 077; mkdir -p "$keys")
  for s in "${services[@]}"; do
    [ -f "$keys/$s.key" ] || "$bin/svx-$s" generate-key "$keys" >/dev/null
  done
}

up_postgres() {
  if [ ! -f "$data/PG_VERSION" ]; then
    echo "postgres: creating cluster in $data"
    pg_init "$data" scram-sha-256
  fi
  if ! pg_running "$data"; then
    pg_start "$data" "$pg_port" "$pg_log"
  fi
  pg_psql "$data" "$pg_port" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'svx'" | grep -q 1 \
    || pg_psql "$data" "$pg_port" postgres -c "CREATE DATABASE svx"
  pg_psql "$data" "$pg_port" svx < "$root/compose/bootstrap.sql" >/dev/null
  # Through stdin, not -c: a password on a command line is readable by every local user (ps, /proc).
  local s var
  for s in "${services[@]}"; do
    var="SVX_PG_PASSWORD_${s^^}"
    printf "ALTER ROLE svx_%s PASSWORD '%s';\n" "$s" "${!var}"
  done | pg_psql "$data" "$pg_port" svx >/dev/null
}

up_service() {
  local s=$1 pidfile=$stack/$s.pid
  local endpoint; endpoint=$(endpoint_of "$s")
  if alive "$pidfile" && probe_service "$s" --timeout-ms 1000 "$endpoint" >/dev/null; then return 0; fi
  if alive "$pidfile"; then kill "$(cat "$pidfile")" 2>/dev/null || true; sleep 1; fi
  local pw="SVX_PG_PASSWORD_${s^^}" url="SVX_${s^^}_DATABASE_URL" ep="SVX_${s^^}_ENDPOINT"
  # Exported in a subshell that execs the service (same pid): the URL holds a password, so it goes
  # through the environment (readable by the owner only), never through a command line.
  (
    export "$url=${!url:-postgresql://svx_$s:${!pw}@127.0.0.1:$pg_port/svx}" "$ep=$endpoint" SVX_TRANSPORT="$transport"
    if [ "$transport" != plaintext ]; then export SVX_KEYS_DIR="$keys"; fi
    if [ "$s" = auth ]; then export SVX_AUTH_CHALLENGE_KEY; fi  # from secrets.env, for auth only
    exec nohup "$bin/svx-$s" >>"$stack/$s.log" 2>&1 </dev/null
  ) &
  echo $! > "$pidfile"
}

wait_healthy() {
  local s endpoint deadline=$((SECONDS + 60))
  for s in "${services[@]}"; do
    endpoint=$(endpoint_of "$s")
    until probe_service "$s" --timeout-ms 1000 "$endpoint" >/dev/null; do
      if ! alive "$stack/$s.pid"; then echo "svx-$s exited; last log lines:" >&2; tail -n 20 "$stack/$s.log" >&2; return 1; fi
      if ((SECONDS > deadline)); then echo "svx-$s not healthy after 60 s; see $stack/$s.log" >&2; return 1; fi
      sleep 0.2
    done
  done
}

cmd_up() {
  (umask 077; mkdir -p "$stack")
  for s in "${services[@]}"; do [ -x "$bin/svx-$s" ] || { echo "missing $bin/svx-$s: run make build" >&2; exit 1; }; done
  [ -x "$probe" ] || { echo "missing $probe: run make probe" >&2; exit 1; }
  case "$transport" in curve|plaintext) ;; *) echo "SVX_TRANSPORT: expected curve or plaintext, got $transport" >&2; exit 2;; esac
  echo "$transport" > "$stack/transport"
  secrets
  curve_keys
  place_cluster
  # Others may only traverse the stack directory when a cluster in it runs as postgres; else it is the owner's alone.
  if [ -z "$home" ] && [ "$(id -u)" -eq 0 ]; then chmod 711 "$stack"; else chmod 700 "$stack"; fi
  up_postgres
  for s in "${services[@]}"; do up_service "$s"; done
  wait_healthy
  echo "svx stack is up (state, logs and pids in $stack)"
  echo "  postgres        127.0.0.1:$pg_port  database svx  (admin: socket in $data)  log $pg_log"
  for s in "${services[@]}"; do printf '  %-15s %s  pid %s  log %s\n' "$s" "$(endpoint_of "$s")" "$(cat "$stack/$s.pid")" "$stack/$s.log"; done
  if [ "$transport" = plaintext ]; then
    echo "  transport: plaintext (SVX_TRANSPORT=plaintext): nothing on these sockets is encrypted"
  else
    echo "  transport: CURVE; the services' public keys are in $keys. For svx and the SDK:"
    echo "    export SVX_KEYS_DIR=$keys"
  fi
}

cmd_down() {
  local s pid
  for s in "${services[@]}"; do
    [ -f "$stack/$s.pid" ] || continue
    pid=$(cat "$stack/$s.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then echo "svx-$s (pid $pid) ignored SIGTERM for 10 s; killing" >&2; kill -KILL "$pid"; fi
      echo "stopped svx-$s (pid $pid)"
    fi
    rm -f "$stack/$s.pid"
  done
  locate_cluster
  if [ -d "$data" ] && pg_running "$data"; then pg_stop "$data"; echo "stopped postgres"; fi
  if [ -n "$home" ]; then
    if [ -d "$data" ] && pg_running "$data"; then echo "postgres in $data did not stop; its directory is kept" >&2; return 1; fi
    if [ -d "$home" ]; then pg_remove_home "$home"; echo "removed the cluster directory $home"; fi
    rm -f "$home_record"
  fi
}

cmd_status() {
  local s rc=0 line
  locate_cluster
  if [ -d "$data" ] && pg_running "$data" && pg_as_owner "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then
    printf '%-15s %s\n' postgres "UP 127.0.0.1:$pg_port"
  else printf '%-15s %s\n' postgres DOWN; rc=1; fi
  for s in "${services[@]}"; do
    if alive "$stack/$s.pid"; then
      line=$(probe_service "$s" --timeout-ms 1000 "$(endpoint_of "$s")") || rc=1
      printf '%-15s pid %-7s %s\n' "$s" "$(cat "$stack/$s.pid")" "$line"
    else printf '%-15s %s\n' "$s" "DOWN"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac

# Shared PostgreSQL helpers for scripts/stack.sh and scripts/test-postgres.sh (sourced, not run).
# A cluster listens on 127.0.0.1 only, on its own port, with its unix socket inside the data directory. As root,
# the server runs as the `postgres` OS user (initdb refuses root), so a cluster lives where that user can reach
# it: a checkout may sit in a folder it cannot enter (anywhere under /root, mode 0700), and the checkout's own
# permissions are never loosened for it (pg_new_home).
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

pg_as_owner() {  # run a command as the OS user that owns the cluster, from / (the caller's folder may be closed to it)
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# pg_new_home NAME: prints the path of a new directory for a cluster under the system temp folder (${TMPDIR:-/tmp}),
# made by mktemp (mode 0700) and owned by the OS user the server runs as.
pg_new_home() {
  local home
  home=$(mktemp -d "${TMPDIR:-/tmp}/svx-$1.XXXXXXXX")
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$home"; fi
  if ! pg_as_owner test -w "$home"; then
    rm -rf "$home"
    echo "the postgres OS user cannot write to $home: set TMPDIR to a folder it can enter" >&2
    return 1
  fi
  echo "$home"
}

# pg_remove_home DIR: deletes a directory made by pg_new_home (and nothing else: the name must be ours).
pg_remove_home() {
  local home=$1
  case "$(basename "$home")" in
    svx-*.????????) [ -d "$home" ] && rm -rf "$home" ;;
    *) echo "not removing $home: not a cluster directory of svx" >&2; return 1 ;;
  esac
}

# pg_init DATA_DIR AUTH_HOST: a new cluster with superuser `postgres`; local socket trusted (the socket
# directory is the data directory, mode 0700, so only its owner reaches it), TCP by AUTH_HOST.
pg_init() {
  local data=$1 auth_host=$2
  mkdir -p "$data"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$data"; fi
  chmod 700 "$data"
  pg_as_owner "$PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host="$auth_host" >/dev/null
}

# pg_start DATA_DIR PORT LOG_FILE [extra -c settings...]
pg_start() {
  local data=$1 port=$2 log=$3; shift 3
  local opts="-p $port -k $data -c listen_addresses=127.0.0.1"
  for setting in "$@"; do opts+=" -c $setting"; done
  touch "$log"; if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$log"; fi
  pg_as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 30 -o "$opts" start >/dev/null
}

pg_stop() {  # stops the postmaster recorded in DATA_DIR/postmaster.pid
  local data=$1
  [ -f "$data/postmaster.pid" ] || return 0
  pg_as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

pg_running() { [ -f "$1/postmaster.pid" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }

pg_psql() {  # pg_psql DATA_DIR PORT DB [psql args...]: as the superuser over the private socket
  local data=$1 port=$2 db=$3; shift 3
  pg_as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$data" -p "$port" -U postgres -d "$db" "$@"
}
